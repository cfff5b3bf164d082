// List an organization's audit events: GET /orgs/{org_id}/audit_events.
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
	page, err := scope.ListAuditEvents(ctx, client.AuditFilter{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page.Events {
		fmt.Println(e.Time.Format(time.RFC3339), e.Action, e.KeyID, "by", e.Actor)
	}
}
