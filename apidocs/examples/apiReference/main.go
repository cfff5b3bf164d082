// The API reference page: GET /docs.
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
	page, err := kw.APIReference(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page), "bytes of HTML")
}
