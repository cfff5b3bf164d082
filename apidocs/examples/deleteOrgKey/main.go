// Delete a key of an organization: DELETE /orgs/{org_id}/api_keys/{key_id}.
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
	if err := scope.DeleteKey(ctx, os.Getenv("KEYWARD_KEY_ID")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted")
}
