package cli

import "github.com/ofii/allowances/internal/jsonstrict"

// DecodeStrict decodes data, which must hold exactly one JSON value, into
// v, a non-nil pointer, refusing unknown fields, data after the value and
// bytes that are not UTF-8 (jsonstrict.Decode).
func DecodeStrict(data []byte, v any) error { return jsonstrict.Decode(data, v) }
