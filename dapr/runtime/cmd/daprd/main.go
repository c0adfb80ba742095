// Command daprd is the Dapr sidecar of the pinned release with this platform's components.
package main

import (
	"github.com/dapr/dapr/cmd/daprd/app"

	_ "ecommerce/daprruntime/components"
)

func main() {
	app.Run()
}
