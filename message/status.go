package message

import (
	"fmt"

	"github.com/yuinet/yui/network/wire"
)

// MaxStatusSize is the largest encoded Status: an item, its receipt and a
// few fields.
const MaxStatusSize = 2*wire.MaxMsgItemSize + wire.MaxMsgResultText + 256

// statusRecord is the stored form of a Status.
type statusRecord struct {
	_          struct{} `cbor:",toarray"`
	Item       []byte
	State      State
	Custodians uint16
	Error      string
	Receipt    []byte
	Updated    int64 // Unix milliseconds
}

// EncodeStatus encodes st so that a node can store the items it sent and
// route them again after a restart.
func EncodeStatus(st Status) ([]byte, error) {
	rec := statusRecord{
		Item:       st.Item.Raw,
		State:      st.State,
		Custodians: uint16(min(st.Custodians, 1<<16-1)),
		Error:      limitText(st.Error),
		Updated:    millis(st.Updated),
	}
	if st.Receipt != nil {
		rec.Receipt = st.Receipt.Raw
	}
	return marshal("status", rec)
}

// DecodeStatus reads what EncodeStatus wrote, verifying the item and
// receipt signatures again, because the file could have been altered.
func DecodeStatus(b []byte) (Status, error) {
	var rec statusRecord
	if err := unmarshal("status", b, MaxStatusSize, &rec); err != nil {
		return Status{}, err
	}
	if rec.State < StatePending || rec.State > StateExpired {
		return Status{}, fmt.Errorf("%w: status state %d", ErrInvalid, rec.State)
	}
	it, err := Decode(rec.Item)
	if err != nil {
		return Status{}, err
	}
	st := Status{Item: it, State: rec.State, Custodians: int(rec.Custodians), Error: rec.Error, Updated: fromMillis(rec.Updated)}
	if len(rec.Receipt) > 0 {
		r, err := Decode(rec.Receipt)
		if err != nil {
			return Status{}, err
		}
		if r.Kind != KindReceipt || r.ID != it.ID || string(r.From) != string(it.To) {
			return Status{}, fmt.Errorf("%w: stored receipt is not the recipient's receipt for %s", ErrInvalid, it.ID)
		}
		st.Receipt = r
	}
	return st, nil
}
