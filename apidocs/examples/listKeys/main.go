// List the caller's organization's keys: GET /api_keys.
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
