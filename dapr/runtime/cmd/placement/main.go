// Command placement is the Dapr placement service of the pinned release.
package main

import "github.com/dapr/dapr/cmd/placement/app"

func main() {
	app.Run()
}
