package cli

import "github.com/ofii/allowances/internal/jsonstrict"

// DecodeStrict decodes data, a file a person wrote, which must hold
// exactly one JSON value, into v, a non-nil pointer, with the service's one
// strict decoder: jsonstrict.Decode, whose failures name the field at
// fault as a path such as "lines[1].amount", or the line and column of the
// mistake.
func DecodeStrict(data []byte, v any) error { return jsonstrict.Decode(data, v) }
