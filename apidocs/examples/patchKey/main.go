// Change a key of the caller's organization: PATCH /api_keys/{key_id}.
// KEYWARD_API_KEY is a key of the organization, holding manage; a root
// key would name the organization: kw.Caller(orgID).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/keyward/keyward/client"
)

func main() {
	kw, err := client.New(
		client.WithBaseURL(os.Getenv("KEYWARD_URL")),
		client.WithAPIKey(os.Getenv("KEYWARD_API_KEY")),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	scope := kw.Caller("") // the key's own organization
	name := "Worker (prod)"
	k, err := scope.UpdateKey(ctx, os.Getenv("KEYWARD_KEY_ID"), client.KeyUpdate{
		Name:     &name,
		Metadata: map[string]any{"plan": "enterprise"}, // merged into the key's
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.ID, k.Name, k.Metadata["plan"], "version", k.ETag)
}
