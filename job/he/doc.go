// Package he sums and averages numeric fields over encrypted values
// with the BGV scheme of lattigo, so that the workers of a job add
// ciphertexts without seeing a value and only the data owner decrypts.
//
// The roles and their types:
//
//   - The owner calls GenerateKey, keeps the OwnerKey and hands its
//     PublicKey to the nodes that encrypt its values. OwnerKey.Decrypt turns an aggregate
//     into a Result: the exact sum and count.
//   - An Encryptor turns a batch of values into Ciphertexts, each packing
//     up to Slots()-1 values and, in its last slot, their count.
//   - An Aggregator adds Ciphertexts. It is built from Params alone and
//     no secret key is reachable from it.
//
// Values are fixed-point: a value v is the integer round(v × Scale), so
// sums are exact integers and the mean is exact at that scale. BGV
// arithmetic is modulo the plaintext modulus T, so a sum must stay below
// T/2 in magnitude. A Plan states the value range and the most values a
// job may add, and NewEncryptor rejects a plan whose worst-case sum could
// reach T/2 (ErrOverflow).
package he
