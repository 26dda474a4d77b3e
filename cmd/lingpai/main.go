// Command lingpai is the token server and its administration tool.
package main

import (
	"context"
	"os"

	"github.com/lingpai/lingpai/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
