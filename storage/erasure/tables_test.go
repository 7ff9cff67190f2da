package erasure

import (
	"bytes"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The tables in docs/redundancy.md come from this file. Regenerate them
// after changing the computation or the candidates:
//
//	go test ./storage/erasure -run TestRedundancyTables -update
var update = flag.Bool("update", false,
	"rewrite testdata/redundancy-tables.md and the generated tables in docs/redundancy.md")

const (
	goldenPath = "testdata/redundancy-tables.md"
	docPath    = "../../docs/redundancy.md"

	clusterNodes = 48
	// maxDataSetLoss is the loss probability for a data set of
	// targetChunks chunks below which parameters count as safe.
	maxDataSetLoss = 1e-9
	targetChunks   = 1_000_000
	maxOverhead    = 2.0
)

// candidates are the parameters the tables compare.
var candidates = []Params{
	Replication(3),
	{Data: 4, Parity: 2},
	{Data: 6, Parity: 3},
	{Data: 8, Parity: 4},
	{Data: 4, Parity: 4},
	{Data: 6, Parity: 6},
	{Data: 8, Parity: 8},
	{Data: 10, Parity: 10},
	{Data: 12, Parity: 12},
	{Data: 15, Parity: 15},
	{Data: 16, Parity: 16},
	{Data: 32, Parity: 16},
	{Data: 31, Parity: 17},
	{Data: 24, Parity: 24},
}

var independentCandidates = []Params{
	Replication(3),
	{Data: 8, Parity: 4},
	{Data: 8, Parity: 8},
	{Data: 16, Parity: 16},
	{Data: 32, Parity: 16},
	{Data: 32, Parity: 32},
	{Data: 64, Parity: 64},
	{Data: 128, Parity: 128},
}

var failureFractions = []*big.Rat{
	big.NewRat(1, 100), big.NewRat(1, 20), big.NewRat(1, 10), big.NewRat(1, 3),
}

// generatedTable is one table in docs/redundancy.md, between the lines
// "<!-- BEGIN name -->" and "<!-- END name -->".
type generatedTable struct {
	name   string
	render func(t *testing.T) string
}

var generatedTables = []generatedTable{
	{"cluster-f16", func(t *testing.T) string { return clusterTable(t, 16) }},
	{"cluster-f24", func(t *testing.T) string { return clusterTable(t, 24) }},
	{"after-repair", afterRepairTable},
	{"feasible", feasibleTable},
	{"replication", replicationTable},
	{"independent", independentTable},
}

func formatRat(r *big.Rat) string {
	if r.Sign() == 0 {
		return "0"
	}
	return new(big.Float).SetRat(r).Text('e', 2)
}

func formatFloat(f *big.Float) string {
	if f.Sign() == 0 {
		return "0"
	}
	return f.Text('e', 2)
}

func safe(chunk *big.Rat) bool {
	loss, _ := DataSetLoss(chunk, targetChunks).Float64()
	return loss < maxDataSetLoss
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func clusterTable(t *testing.T, failed int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| params | nodes per chunk | overhead | P(chunk lost) | P(any of 10^4 lost) | P(any of 10^6 lost) | safe |\n")
	fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|---|\n")
	for _, p := range candidates {
		chunk := mustChunkLoss(t, p, clusterNodes, failed)
		fmt.Fprintf(&b, "| %v | %d | %.2f× | %s | %s | %s | %s |\n",
			p, p.Total(), p.Overhead(), formatRat(chunk),
			formatFloat(DataSetLoss(chunk, 10_000)), formatFloat(DataSetLoss(chunk, 1_000_000)),
			yesNo(safe(chunk) && p.Overhead() <= maxOverhead))
	}
	return b.String()
}

// afterRepairTable follows each candidate through the sequence the store
// must survive: 16 of 48 nodes fail, repair spreads the chunk's shards
// over the 32 survivors, and 8 more fail.
func afterRepairTable(t *testing.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| params | overhead | P(lost), 16 of 48 fail | most shards on one survivor | P(lost), then 8 of 32 fail | P(any of 10^6 lost), then 8 of 32 fail |\n")
	fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|\n")
	for _, p := range afterRepairCandidates {
		first := mustChunkLoss(t, p, clusterNodes, 16)
		second, err := ChunkLossSpread(p, clusterNodes-16, 8)
		if err != nil {
			t.Fatal(err)
		}
		most := (p.Total() + clusterNodes - 17) / (clusterNodes - 16)
		fmt.Fprintf(&b, "| %v | %.2f× | %s | %d | %s | %s |\n", p, p.Overhead(), formatRat(first), most,
			formatRat(second), formatFloat(DataSetLoss(second, 1_000_000)))
	}
	return b.String()
}

// afterRepairCandidates are the codes afterRepairTable compares.
var afterRepairCandidates = []Params{
	{Data: 15, Parity: 15},
	{Data: 16, Parity: 16},
	{Data: 20, Parity: 16},
	{Data: 24, Parity: 16},
	{Data: 32, Parity: 16},
	{Data: 31, Parity: 17},
	{Data: 33, Parity: 15},
	{Data: 24, Parity: 24},
}

// feasibleTable scans every code that fits on the cluster with at most
// maxOverhead and summarizes those that are safe.
func feasibleTable(t *testing.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| failed nodes | safe parameter sets | fewest shards | lowest overhead | smallest safe Parity |\n")
	fmt.Fprintf(&b, "|--:|--:|---|---|--:|\n")
	for _, failed := range []int{16, 24} {
		var found []Params
		for data := 1; data <= clusterNodes; data++ {
			for parity := 0; data+parity <= clusterNodes; parity++ {
				p := Params{Data: data, Parity: parity}
				if p.Overhead() <= maxOverhead && safe(mustChunkLoss(t, p, clusterNodes, failed)) {
					found = append(found, p)
				}
			}
		}
		if len(found) == 0 {
			fmt.Fprintf(&b, "| %d | 0 | – | – | – |\n", failed)
			continue
		}
		fewest, cheapest, minParity := found[0], found[0], found[0].Parity
		for _, p := range found {
			if p.Total() < fewest.Total() || (p.Total() == fewest.Total() && p.Overhead() < fewest.Overhead()) {
				fewest = p
			}
			if p.Overhead() < cheapest.Overhead() || (p.Overhead() == cheapest.Overhead() && p.Total() < cheapest.Total()) {
				cheapest = p
			}
			minParity = min(minParity, p.Parity)
		}
		fmt.Fprintf(&b, "| %d | %d | %v (%d shards, %.2f×) | %v (%d shards, %.2f×) | %d |\n",
			failed, len(found), fewest, fewest.Total(), fewest.Overhead(),
			cheapest, cheapest.Total(), cheapest.Overhead(), minParity)
	}
	return b.String()
}

func replicationTable(t *testing.T) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| copies | overhead | P(record lost) | P(any of 10^4 lost) | P(any of 10^6 lost) |\n")
	fmt.Fprintf(&b, "|--:|--:|--:|--:|--:|\n")
	for _, copies := range []int{3, 5, 8, 10, 12, 14, 15, 16, 17} {
		chunk := mustChunkLoss(t, Replication(copies), clusterNodes, 16)
		fmt.Fprintf(&b, "| %d | %d× | %s | %s | %s |\n", copies, copies, formatRat(chunk),
			formatFloat(DataSetLoss(chunk, 10_000)), formatFloat(DataSetLoss(chunk, 1_000_000)))
	}
	return b.String()
}

func independentTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| params | overhead |")
	for _, q := range failureFractions {
		f, _ := q.Float64()
		fmt.Fprintf(&b, " q = %.3g: chunk / 10^6 chunks |", f)
	}
	b.WriteString("\n|---|--:|")
	b.WriteString(strings.Repeat("--:|", len(failureFractions)))
	b.WriteString("\n")
	for _, p := range independentCandidates {
		fmt.Fprintf(&b, "| %v | %.2f× |", p, p.Overhead())
		for _, q := range failureFractions {
			chunk, err := ChunkLossIndependent(p, q)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, " %s / %s |", formatRat(chunk), formatFloat(DataSetLoss(chunk, 1_000_000)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func renderGolden(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated by: go test ./storage/erasure -run TestRedundancyTables -update -->\n")
	for _, table := range generatedTables {
		fmt.Fprintf(&b, "\n## %s\n\n%s", table.name, table.render(t))
	}
	return b.Bytes()
}

func sectionPattern(name string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)(<!-- BEGIN ` + regexp.QuoteMeta(name) + ` -->\n)(.*?)(<!-- END ` +
		regexp.QuoteMeta(name) + ` -->)`)
}

func TestRedundancyTables(t *testing.T) {
	golden := renderGolden(t)
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read the document the tables belong to: %v", err)
	}

	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, golden, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, table := range generatedTables {
			re := sectionPattern(table.name)
			if !re.Match(doc) {
				t.Fatalf("%s has no BEGIN/END markers for table %q", docPath, table.name)
			}
			body := table.render(t)
			doc = re.ReplaceAllFunc(doc, func(m []byte) []byte {
				sub := re.FindSubmatch(m)
				return []byte(string(sub[1]) + body + string(sub[3]))
			})
		}
		if err := os.WriteFile(docPath, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden tables (create them with -update): %v", err)
	}
	if !bytes.Equal(golden, want) {
		t.Errorf("tables differ from %s; run with -update if the change is intended.\ngot:\n%s", goldenPath, golden)
	}
	for _, table := range generatedTables {
		m := sectionPattern(table.name).FindSubmatch(doc)
		if m == nil {
			t.Errorf("%s has no BEGIN/END markers for table %q", docPath, table.name)
			continue
		}
		if string(m[2]) != table.render(t) {
			t.Errorf("table %q in %s is out of date; run with -update", table.name, docPath)
		}
	}
}
