package sandbox

// The modules the tests run, rebuilt from their sources in testdata.
//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath "-ldflags=-s -w" -o testdata/fahrenheit.wasm ./testdata/fahrenheit
//go:generate env GOOS=wasip1 GOARCH=wasm go build -trimpath "-ldflags=-s -w" -o testdata/misbehave.wasm ./testdata/misbehave
