// Rotate a key's secret: POST /orgs/{org_id}/api_keys/{key_id}/rotate.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

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
	// The previous secret keeps verifying for a day.
	r, err := scope.RotateKey(ctx, os.Getenv("KEYWARD_KEY_ID"), 24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.ID, "new secret", r.Hint, "previous one until", r.PreviousSecretExpiresAt)
	// r.Secret.Reveal() is the new secret, shown this once.
}
