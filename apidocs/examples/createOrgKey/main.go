// Create a key in an organization: POST /orgs/{org_id}/api_keys.
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
	created, err := scope.CreateKey(ctx, client.KeyCreate{
		Name:        "Backend",
		Permissions: []string{"read", "write"},
		Metadata:    map[string]any{"plan": "pro"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", created.ID, created.Hint)
	// created.Secret.Reveal() is the secret, shown this once: hand it to its
	// owner now. (Printed, it redacts itself.)
}
