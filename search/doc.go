// Package search stores sensor readings encrypted and finds them again
// without any storage node reading them.
//
// # Storage
//
// A Writer groups the readings it is given by sensor and hour and encodes
// each group as a segment (sensor.EncodeSegment), which it stores as one
// encrypted record of the namespace through the store's Gateway. A
// segment holds at most one hour of one sensor. A group whose encoding
// exceeds store.InlineMax is split in time until each part fits, so every
// segment is stored inline in its record version. Storing one then takes
// one directory write, and fetching it one directory read. At one reading per sensor
// per minute with a handful of numeric fields, an hour takes one or two
// records, so a million readings cost tens of thousands of records, and a
// query over a day of one sensor fetches a few dozen.
//
// # Blind index
//
// Every segment is indexed under tokens: keyed hashes (HMAC-SHA256) of
// what a query may ask for, under a key derived from the namespace's index
// key (store.Store.IndexKey), which only users with read access can
// derive. Tokens name the sensor, the sensor's hour and day, the hour and
// day across sensors, the grid cells around each location at three sizes,
// and field=value for text fields and for the numeric fields a Config
// lists. A posting entry under a token is the segment's record key, sealed
// with AES-256-GCM under the index key as well.
//
// Postings live on upper-tier nodes: the Replicas nodes closest to the
// token's partition (IndexID) among those that accept them. An index
// holder (Index) stores token → sealed entries in Pebble and returns the
// entries of a token when asked. It never sees a sensor id, a value or a
// record key.
//
// Postings are written to a majority of a partition's holders and read
// from the complementary number, so a lookup finds every posting while
// fewer holders have changed than the quorums allow. Each holder runs a
// Repairer pass on the node's repair interval to keep the holder sets
// complete as nodes come and go. For each partition it stores, the pass
// sends the partition's count and digest to the current closest holders.
// Where a holder's digest differs, it lists that holder's keys in the
// buckets (second token byte) that differ, and sends the postings the
// holder lacks. A closer node
// that joins gets the postings (handover), and so does the node that
// takes the place of a failed holder (repair). Adding a posting twice
// stores it once, and no message deletes postings, so a transfer never
// brings back a deleted one. A posting is lost only when every node that
// stores it fails before a pass copies it.
//
// # Queries
//
// A Querier turns a Query into sets of tokens, one set per condition; a
// time range becomes the hour and day tokens that cover it. It fetches the
// postings of every token, unions them within a condition and intersects
// across conditions on the client, then fetches and decrypts the segments
// it found and filters their readings exactly, so the index only narrows
// the segments to read and never decides a result.
package search
