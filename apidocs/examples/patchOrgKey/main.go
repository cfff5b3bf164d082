// Change a key of an organization: PATCH /orgs/{org_id}/api_keys/{key_id}.
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
	scope := kw.Org(os.Getenv("KEYWARD_ORG_ID"))
	name := "Backend (prod)"
	k, err := scope.UpdateKey(ctx, os.Getenv("KEYWARD_KEY_ID"), client.KeyUpdate{
		Name:     &name,
		Metadata: map[string]any{"plan": "enterprise"}, // merged into the key's
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.ID, k.Name, k.Metadata["plan"], "version", k.ETag)
}
