// Get a key of an organization: GET /orgs/{org_id}/api_keys/{key_id}.
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
	k, err := scope.GetKey(ctx, os.Getenv("KEYWARD_KEY_ID"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.ID, k.Name, k.State, k.Permissions, "version", k.ETag)
}
