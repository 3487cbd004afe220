// Command httpnet writes a synthetic network.json (internal/synthnet: n
// agents, m distinct random ties, centralities included) to stdout, for
// bench/http.sh to upload.
//
//	go run ./bench/httpnet -n 10000 -m 50000 > net.json
package main

import (
	"flag"
	"os"

	"github.com/ethox/ethox/internal/synthnet"
)

func main() {
	n := flag.Int("n", 10_000, "agents")
	m := flag.Int("m", 50_000, "ties")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	if _, err := os.Stdout.Write(synthnet.JSON(*n, *m, *seed)); err != nil {
		os.Exit(1)
	}
}
