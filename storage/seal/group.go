package seal

import "fmt"

// Group limits.
const (
	// MaxFields is the most fields in one group.
	MaxFields = 256
	// MaxGroupSize is the limit on a sealed group. Groups carry small
	// fields such as a reading or a position; bulk data belongs in the
	// record's value.
	MaxGroupSize = 64 << 10
)

// groupAAD binds a sealed group to its record and its name, so the
// "public" group of a record cannot pass for its "guardians" group.
type groupAAD struct {
	_      struct{} `cbor:",toarray"`
	Domain string
	Record RecordID
	Group  string
}

const groupDomain = "yui seal v1 group"

// SealGroup encrypts the fields of group under dk for record id. Give each
// group its own DataKey: a reader holds the keys of the groups it may read
// and nothing opens the others.
func SealGroup(dk DataKey, id RecordID, group string, fields map[string][]byte) ([]byte, error) {
	aad, err := groupAdditionalData(id, group)
	if err != nil {
		return nil, err
	}
	if err := validateFields(fields); err != nil {
		return nil, err
	}
	plaintext, err := marshal("group", fields)
	if err != nil {
		return nil, err
	}
	sealed := sealAEAD(dk, aad, plaintext)
	if len(sealed) > MaxGroupSize {
		return nil, fmt.Errorf("%w: sealed group %q of %s is %d bytes, limit %d",
			ErrTooLarge, group, id, len(sealed), MaxGroupSize)
	}
	return sealed, nil
}

// OpenGroup decrypts a group that SealGroup sealed under dk for record id
// and group name. Before trusting the result, check sealed against the
// signed Envelope with Envelope.CheckGroup.
func OpenGroup(dk DataKey, id RecordID, group string, sealed []byte) (map[string][]byte, error) {
	if len(sealed) > MaxGroupSize {
		return nil, fmt.Errorf("%w: sealed group %q of %s is %d bytes, limit %d",
			ErrTooLarge, group, id, len(sealed), MaxGroupSize)
	}
	aad, err := groupAdditionalData(id, group)
	if err != nil {
		return nil, err
	}
	plaintext, err := openAEAD(dk, aad, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: group %q of %s: no key for this group, altered bytes, or another record's group",
			ErrDecrypt, group, id)
	}
	return decodeFields(plaintext)
}

func groupAdditionalData(id RecordID, group string) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateGroup(group); err != nil {
		return nil, err
	}
	return marshal("group additional data", groupAAD{Domain: groupDomain, Record: id, Group: group})
}

func validateFields(fields map[string][]byte) error {
	if len(fields) > MaxFields {
		return fmt.Errorf("%w: %d fields, limit %d", ErrTooLarge, len(fields), MaxFields)
	}
	for name := range fields {
		if err := validateText("field name", name, MaxFieldNameLen); err != nil {
			return err
		}
	}
	return nil
}

func decodeFields(b []byte) (map[string][]byte, error) {
	var fields map[string][]byte
	if err := unmarshal("group", b, MaxGroupSize, &fields); err != nil {
		return nil, err
	}
	if err := validateFields(fields); err != nil {
		return nil, err
	}
	return fields, nil
}
