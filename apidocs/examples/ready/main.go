// Readiness check: GET /readyz.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/keyward/keyward/client"
)

func main() {
	kw, err := client.New(client.WithBaseURL(os.Getenv("KEYWARD_URL")))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := kw.Ready(ctx); err != nil {
		log.Fatal(err) // a 503 while the database does not answer or the cache fills
	}
	fmt.Println("ready")
}
