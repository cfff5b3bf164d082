// List an organization's keys: GET /orgs/{org_id}/api_keys.
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
	page, err := scope.ListKeys(ctx, client.KeyListOptions{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range page.Keys {
		fmt.Println(k.ID, k.Name, k.State, k.Permissions)
	}
	if page.NextCursor != "" {
		fmt.Println("more: ListKeys with Cursor:", page.NextCursor, "(or AllKeys, which follows the pages)")
	}
}
