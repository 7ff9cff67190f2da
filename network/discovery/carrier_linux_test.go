package discovery

import (
	"net/netip"
	"testing"

	"github.com/yuinet/yui/internal/netns"
)

// TestScanLinksNoticesFlap sets a link down and up again between two
// scans. Everything but the carrier count stays the same, and the second
// scan must still see the link as changed.
func TestScanLinksNoticesFlap(t *testing.T) {
	lab := netns.ForTest(t, "yuiflap")
	ns := lab.NewNamespace(t, "host")
	ns.Attach(t, lab.NewBridge(t, "lan"), "eth0", netip.MustParsePrefix("10.47.19.1/24"))

	scan := func() link {
		t.Helper()
		var links []link
		err := ns.Do(func() error {
			var err error
			links, err = scanLinks([]string{"eth0"}, false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 {
			t.Fatalf("scan found %d links named eth0, want 1", len(links))
		}
		return links[0]
	}

	before := scan()
	if again := scan(); !again.equal(before) {
		t.Fatalf("two scans of an idle link differ: %+v and %+v", before, again)
	}

	if err := ns.SetLinkUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetLinkUp("eth0", true); err != nil {
		t.Fatal(err)
	}
	after := scan()
	if after.equal(before) {
		t.Errorf("scan after a flap equals the one before: carrier changes %d and %d",
			before.carrierChanges, after.carrierChanges)
	}
	if after.carrierChanges <= before.carrierChanges {
		t.Errorf("carrier changes went from %d to %d over a flap, want more", before.carrierChanges, after.carrierChanges)
	}
}
