// Liveness check: GET /healthz.
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
	if err := kw.Health(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ok")
}
