// Command misbehave is a map step that breaks the job sandbox's limits
// on purpose, so its tests can check that each limit holds. Its first
// argument picks the fault:
//
//	loop   spins forever without reading its input
//	alloc  allocates memory without bound and keeps all of it
//	flood  writes output without end
//	fail   writes a message to standard error and exits with status 3
//	probe  writes one reading that records what the host let it see
package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

var kept [][]byte

func main() {
	if len(os.Args) < 2 {
		os.Stderr.WriteString("misbehave: name a fault: loop, alloc, flood or fail\n")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "loop":
		n := 0
		for {
			n++
		}
	case "alloc":
		for {
			kept = append(kept, make([]byte, 1<<20))
			kept[len(kept)-1][0] = 1
		}
	case "flood":
		line := `{"source":"x","time":"2006-11-13T17:00:00Z","fields":[]}` + "\n"
		block := strings.Repeat(line, 1000)
		for {
			os.Stdout.WriteString(block)
		}
	case "probe":
		probe()
		return
	case "fail":
		os.Stderr.WriteString("misbehave: failing as asked\n")
		os.Exit(3)
	}
	os.Stderr.WriteString("misbehave: unknown fault " + os.Args[1] + "\n")
	os.Exit(2)
}

// probe writes one reading whose fields record whether the module could
// read a host file or list a directory, how many environment variables
// and arguments it got, and the year its wall clock shows.
func probe() {
	_, fileErr := os.ReadFile("/etc/hostname")
	_, dirErr := os.ReadDir("/")
	fields := []string{
		field("file_readable", strconv.FormatBool(fileErr == nil)),
		field("dir_readable", strconv.FormatBool(dirErr == nil)),
		field("env_count", strconv.Itoa(len(os.Environ()))),
		field("arg_count", strconv.Itoa(len(os.Args))),
		field("year", strconv.Itoa(time.Now().Year())),
	}
	os.Stdout.WriteString(`{"source":"probe","time":"2006-11-13T17:00:00Z","fields":[` +
		strings.Join(fields, ",") + "]}\n")
}

func field(name, number string) string {
	if number == "true" {
		number = "1"
	} else if number == "false" {
		number = "0"
	}
	return `{"name":"` + name + `","value":` + number + `}`
}
