package database

import (
	"context"
	"database/sql/driver"
	"fmt"
	"reflect"

	"github.com/google/uuid"
	gormschema "gorm.io/gorm/schema"
)

// ID is a UUID (an order's id, a stock change's) in its text form, as every
// program and the API use it, stored as its 16 bytes (BINARY(16)): a query
// argument or a scanned value of this type is converted on the way (a plain
// string would be compared as text and match nothing), and so is a row's
// string field tagged `gorm:"serializer:uuid"`.
type ID string

// IDs converts ids for a query argument.
func IDs[S ~string](ids []S) []ID {
	out := make([]ID, len(ids))
	for i, id := range ids {
		out[i] = ID(id)
	}
	return out
}

// Value stores the id's 16 bytes.
func (id ID) Value() (driver.Value, error) {
	u, err := uuid.Parse(string(id))
	if err != nil || len(id) != 36 {
		return nil, fmt.Errorf("id %q is not a UUID", string(id))
	}
	return u[:], nil
}

// Scan reads 16 bytes into the id's text form.
func (id *ID) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok || len(b) != 16 {
		return fmt.Errorf("scan id: %T of %d bytes is not a stored UUID", src, len(b))
	}
	*id = ID(uuid.UUID(b).String())
	return nil
}

func init() { gormschema.RegisterSerializer("uuid", uuidSerializer{}) }

// uuidSerializer stores a string field tagged `gorm:"serializer:uuid"` as
// an ID.
type uuidSerializer struct{}

func (uuidSerializer) Scan(ctx context.Context, field *gormschema.Field, dst reflect.Value, dbValue any) error {
	var id ID
	if dbValue != nil {
		if err := id.Scan(dbValue); err != nil {
			return fmt.Errorf("%s: %w", field.Name, err)
		}
	}
	return field.Set(ctx, dst, string(id))
}

func (uuidSerializer) Value(_ context.Context, _ *gormschema.Field, _ reflect.Value, v any) (any, error) {
	return ID(v.(string)).Value()
}
