// Create a key in the caller's organization: POST /api_keys.
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
	created, err := scope.CreateKey(ctx, client.KeyCreate{
		Name:        "Worker",
		Permissions: []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", created.ID, created.Hint)
	// created.Secret.Reveal() is the secret, shown this once: hand it to its
	// owner now. (Printed, it redacts itself.)
}
