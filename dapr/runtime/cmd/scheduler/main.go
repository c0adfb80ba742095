// Command scheduler is the Dapr scheduler service of the pinned release.
package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // served only when ECOMMERCE_PPROF_ADDR is set
	"os"

	"github.com/dapr/dapr/cmd/scheduler/app"
)

func main() {
	// The release's scheduler has no profiling flag (daprd has --enable-profiling). For a
	// profile: ECOMMERCE_PPROF_ADDR=127.0.0.1:17780, then go tool pprof on that address.
	if addr := os.Getenv("ECOMMERCE_PPROF_ADDR"); addr != "" {
		go func() { log.Println(http.ListenAndServe(addr, nil)) }() //nolint:gosec // loopback, debug only
	}
	app.Run()
}
