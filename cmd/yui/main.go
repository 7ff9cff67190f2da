// Command yui runs a Yui node and talks to running nodes.
package main

import (
	"os"

	"github.com/yuinet/yui/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
