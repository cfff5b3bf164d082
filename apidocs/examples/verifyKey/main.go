// Verify a key: POST /verify.
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
	// The key a request to your platform carried.
	v, err := kw.Verify(ctx, os.Getenv("KEYWARD_VERIFY_KEY"), client.VerifyOptions{Permissions: []string{"read"}})
	if err != nil {
		log.Fatal(err)
	}
	if !v.Valid { // any code but VALID is a refusal
		fmt.Println("refused:", v.Code)
		return
	}
	fmt.Println("valid:", v.KeyID, v.OrgID, v.Permissions)
}
