// A key's verifications per hour, by outcome, over one day:
// GET /orgs/{org_id}/api_keys/{key_id}/usage.
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
	u, err := scope.KeyUsage(ctx, os.Getenv("KEYWARD_KEY_ID"), client.UsageRange{Since: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.KeyID, "valid", u.Totals.Valid, "of", u.Totals.Total, "since", u.Since.Format(time.RFC3339))
}
