// List the caller's organization's audit events: GET /audit_events.
// KEYWARD_API_KEY is a key of the organization, holding manage; a root
// key would name the organization: kw.Caller(orgID).
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
	scope := kw.Caller("") // the key's own organization
	page, err := scope.ListAuditEvents(ctx, client.AuditFilter{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page.Events {
		fmt.Println(e.Time.Format(time.RFC3339), e.Action, e.KeyID, "by", e.Actor)
	}
}
