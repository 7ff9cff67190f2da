package main

import (
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/klauspost/reedsolomon"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/quic-go/quic-go"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/sys/unix"
	_ "pgregory.net/rapid"
)

func main() {}
