// This document: GET /openapi.yaml.
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
	doc, err := kw.OpenAPIDocument(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(doc), "bytes of YAML")
}
