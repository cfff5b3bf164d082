// A key's verifications per hour, by outcome, over the last 7 days (the
// default): GET /api_keys/{key_id}/usage.
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
	u, err := scope.KeyUsage(ctx, os.Getenv("KEYWARD_KEY_ID"), client.UsageRange{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.KeyID, "valid", u.Totals.Valid, "of", u.Totals.Total, "in", len(u.Hours), "hours")
	for _, h := range u.Hours {
		if h.Total > 0 {
			fmt.Println(h.Hour.Format("2006-01-02 15:04"), h.Valid, "valid", h.RateLimited, "rate limited")
		}
	}
}
