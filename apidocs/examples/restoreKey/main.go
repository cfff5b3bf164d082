// Restore a deleted key: POST /api_keys/{key_id}/restore.
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
	k, err := scope.RestoreKey(ctx, os.Getenv("KEYWARD_KEY_ID"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.ID, k.Name, k.State)
}
