package scoped

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/tagparser/v2"
)

// Integers that do not fit.
//
// msgpack v5 decodes any msgpack integer into any Go integer by conversion:
// 300 into an int8 gives 44, -1 into a uint gives 2^64-1, 2^40 into an int32
// gives 0, and a uint64 over 2^63-1 into an int64 or a float gives a
// negative number. (A msgpack float into a Go integer it refuses already.)
// checkInts finds such integers before msgpack decodes: it walks the framing
// of the value, as canonical.go does, alongside a shape compiled once per Go
// type that says where that type, as msgpack v5 decodes it, has integers and
// floats: struct fields, under the keys v5 matches to them, elements of
// slices, arrays and maps, and map keys.
//
// It follows msgpack's own choices so as to check exactly what msgpack
// decodes: a type that decodes itself (CustomDecoder, Unmarshaler,
// encoding.BinaryUnmarshaler or TextUnmarshaler), interfaces, strings,
// []byte and [N]byte of any byte type (msgpack bin) have nothing to check.
// A value whose framing the shape does not expect there (a string where an
// integer goes, say) is skipped, for msgpack to decode or refuse.

// shapeOp says what a shape is.
type shapeOp uint8

const (
	shapeSigned   shapeOp = iota + 1 // a Go signed integer, min..max
	shapeUnsigned                    // a Go unsigned integer, 0..max
	shapeFloat                       // a Go float, which msgpack fills from a uint64 through an int64
	shapeList                        // a slice or array: elem
	shapeMap                         // a map: key and elem
	shapeStruct                      // a struct: fields by name, or in order
)

// shape is where a Go type has integers that checkInts checks. A nil *shape
// has none.
type shape struct {
	op       shapeOp
	typ      reflect.Type
	min      int64  // the least integer an integer or float shape takes
	max      uint64 // the greatest
	key      *shape // shapeMap
	elem     *shape // shapeList, shapeMap
	fields   []shapeField
	slots    []uint8           // for each slotHash of a name, 1 + its index in fields, or 0
	byName   map[string]*shape // fields, when no small table of slots fits them
	ordered  []*shape          // the fields of the array form, in order; nil if none has a shape
	nordered int               // how many fields the array form has
}

// shapeField is a map key of a struct that leads to a field with a shape.
type shapeField struct {
	name  string
	shape *shape
}

// Shapes of the integer and float types, for the common targets of decode.
var (
	shapeInt     = scalarShape(reflect.TypeFor[int]())
	shapeInt8    = scalarShape(reflect.TypeFor[int8]())
	shapeInt16   = scalarShape(reflect.TypeFor[int16]())
	shapeInt32   = scalarShape(reflect.TypeFor[int32]())
	shapeInt64   = scalarShape(reflect.TypeFor[int64]())
	shapeUint    = scalarShape(reflect.TypeFor[uint]())
	shapeUint8   = scalarShape(reflect.TypeFor[uint8]())
	shapeUint16  = scalarShape(reflect.TypeFor[uint16]())
	shapeUint32  = scalarShape(reflect.TypeFor[uint32]())
	shapeUint64  = scalarShape(reflect.TypeFor[uint64]())
	shapeFloat32 = scalarShape(reflect.TypeFor[float32]())
	shapeFloat64 = scalarShape(reflect.TypeFor[float64]())
)

// shapes caches the shape of what each pointer type decode was given points
// to, nil shapes too, by the address of the type's descriptor (which is
// unique and never moves), since a reflect.Type is slow to hash. Like
// msgpack's own type caches it only grows, by one entry per type; it is
// copied on write, so that a lookup takes no lock.
var (
	shapes   atomic.Pointer[map[uintptr]*shape]
	shapesMu sync.Mutex // held to write shapes
)

// checkInts returns an error if decoding b into v, a pointer, would put an
// integer into a Go integer that cannot hold it, or a uint64 over 2^63-1
// into a float. Bytes too malformed to walk are an error too.
func checkInts(b []byte, v any) error {
	var s *shape
	switch v.(type) {
	case *string, *bool, *[]byte, *any, *map[string]any, *[]any, *map[string]string, *[]string:
		return nil
	case *int:
		s = shapeInt
	case *int8:
		s = shapeInt8
	case *int16:
		s = shapeInt16
	case *int32:
		s = shapeInt32
	case *int64:
		s = shapeInt64
	case *uint:
		s = shapeUint
	case *uint8:
		s = shapeUint8
	case *uint16:
		s = shapeUint16
	case *uint32:
		s = shapeUint32
	case *uint64:
		s = shapeUint64
	case *float32:
		s = shapeFloat32
	case *float64:
		s = shapeFloat64
	default:
		t := reflect.TypeOf(v)
		if t == nil || t.Kind() != reflect.Pointer {
			return nil // msgpack refuses it
		}
		s = shapeOfPointee(t)
	}
	if s == nil {
		return nil
	}
	if s.op <= shapeFloat { // the common case, spared a call
		if len(b) > 0 && b[0] <= 0x7f { // 0 to 127 fits every integer type
			return nil
		}
		if n, neg, size := intAt(b, 0); size > 0 && !s.fits(n, neg) {
			return &rangeError{n: n, neg: neg, typ: s.typ}
		}
		return nil // msgpack refuses what is not an integer, and decode trailing bytes
	}
	_, err := s.walk(b, 0, 0)
	return err
}

// shapeOfPointee returns the shape of what the pointer type ptr points to.
func shapeOfPointee(ptr reflect.Type) *shape {
	key := reflect.ValueOf(ptr).Pointer()
	if m := shapes.Load(); m != nil {
		if s, ok := (*m)[key]; ok {
			return s
		}
	}
	s := buildShape(ptr.Elem())
	shapesMu.Lock()
	defer shapesMu.Unlock()
	m := map[uintptr]*shape{}
	if old := shapes.Load(); old != nil {
		m = maps.Clone(*old)
	}
	m[key] = s
	shapes.Store(&m)
	return s
}

// walk checks the msgpack value at b[pos] against s and returns the offset
// just past it. A nil s skips the value.
func (s *shape) walk(b []byte, pos, depth int) (int, error) {
	if s == nil {
		return skipFast(b, pos, depth)
	}
	if s.op <= shapeFloat {
		n, neg, size := intAt(b, pos)
		if size == 0 { // not an integer: msgpack decodes nil as zero and refuses the rest
			return skipFast(b, pos, depth)
		}
		if !s.fits(n, neg) {
			return 0, &rangeError{n: n, neg: neg, typ: s.typ}
		}
		return pos + size, nil
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("msgpack: nested deeper than %d", maxDepth)
	}
	var h header
	var err error
	if pos < len(b) && b[pos] >= 0x80 && b[pos] <= 0x9f { // fixmap and fixarray, spared a call
		h = header{kind: kindMap, size: 1, n: int(b[pos] & 0x0f)}
		if b[pos] >= 0x90 {
			h.kind = kindArray
		}
	} else if h, err = readHeader(b, pos); err != nil {
		return 0, err
	}
	end := pos + h.size
	switch {
	case h.kind == kindArray && s.op == shapeList && s.elem != nil && s.elem.op <= shapeFloat:
		e := s.elem // integers, checked here to spare a call for each
		for i := range h.n {
			n, neg, size := intAt(b, end)
			if size == 0 { // not an integer
				if end, err = skipFast(b, end, depth+1); err != nil {
					return 0, err
				}
				continue
			}
			if !e.fits(n, neg) {
				return 0, atPath(&rangeError{n: n, neg: neg, typ: e.typ}, "["+strconv.Itoa(i)+"]")
			}
			end += size
		}
		return end, nil
	case h.kind == kindArray && s.op == shapeList:
		for i := range h.n {
			if end, err = s.elem.walk(b, end, depth+1); err != nil {
				return 0, atPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return end, nil
	case h.kind == kindArray && s.op == shapeStruct && h.n == s.nordered:
		for i := range h.n {
			var f *shape
			if s.ordered != nil {
				f = s.ordered[i]
			}
			if end, err = f.walk(b, end, depth+1); err != nil {
				return 0, atPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return end, nil
	case h.kind == kindMap && s.op == shapeMap:
		for range h.n {
			keyPos := end
			if end, err = s.key.walk(b, end, depth+1); err != nil {
				return 0, err
			}
			if end, err = s.elem.walk(b, end, depth+1); err != nil {
				return 0, atPath(err, "["+keyString(b, keyPos)+"]")
			}
		}
		return end, nil
	case h.kind == kindMap && s.op == shapeStruct:
		for range h.n {
			var name []byte
			next := 0
			if end < len(b) && b[end] >= 0xa0 && b[end] <= 0xbf { // fixstr, spared a call
				if e := end + 1 + int(b[end]&0x1f); e <= len(b) {
					name, next = b[end+1:e], e
				}
			}
			if next == 0 {
				name, next = stringAt(b, end)
			}
			if next == 0 { // not a str or bin: msgpack refuses it
				if end, err = skipFast(b, end, depth+1); err != nil {
					return 0, err
				}
			} else {
				end = next
			}
			var f *shape // the field msgpack decodes the key into, if it has a shape
			if s.slots != nil {
				if i := s.slots[slotHash(name)&uint32(len(s.slots)-1)]; i > 0 && s.fields[i-1].name == string(name) {
					f = s.fields[i-1].shape
				}
			} else {
				f = s.byName[string(name)]
			}
			switch {
			case f == nil:
				if e := quickSkip(b, end); e > 0 {
					end = e
					continue
				}
				if end, err = skipFast(b, end, depth+1); err != nil {
					return 0, err
				}
				continue
			case f.op <= shapeFloat: // spare a call per integer
				if end < len(b) && b[end] <= 0x7f { // 0 to 127 fits every integer type
					end++
					continue
				}
				if n, neg, size := intAt(b, end); size > 0 && f.fits(n, neg) {
					end += size
					continue
				}
			}
			if end, err = f.walk(b, end, depth+1); err != nil {
				return 0, atPath(err, "."+string(name))
			}
		}
		return end, nil
	}
	// Framing s does not expect here: msgpack refuses it, or (for an
	// ext-wrapped map, say) decodes it without us.
	return skipFast(b, pos, depth)
}

// fits reports whether the integer n, or int64(n) if neg, fits s, an
// integer or float shape.
func (s *shape) fits(n uint64, neg bool) bool {
	if neg {
		return int64(n) >= s.min
	}
	return n <= s.max
}

// skipFast is skipValue, quicker for the commonest scalars.
func skipFast(b []byte, pos, depth int) (int, error) {
	if end := quickSkip(b, pos); end > 0 {
		return end, nil
	}
	end, _, err := skipValue(b, pos, depth)
	return end, err
}

// quickSkip returns the offset just past the msgpack value at b[pos] if it
// is a fixint, nil, a bool or a fixstr, or else 0. The compiler inlines it.
func quickSkip(b []byte, pos int) int {
	if pos >= len(b) {
		return 0
	}
	c := b[pos]
	if c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3 {
		return pos + 1
	}
	if c >= 0xa0 && c <= 0xbf {
		if end := pos + 1 + int(c&0x1f); end <= len(b) {
			return end
		}
	}
	return 0
}

// stringAt returns the bytes of the msgpack str or bin at b[pos], which
// msgpack takes alike as the name of a struct field, and the offset just
// past it; next is 0 if there is no str or bin there.
func stringAt(b []byte, pos int) (s []byte, next int) {
	if pos >= len(b) {
		return nil, 0
	}
	c := b[pos]
	if c >= 0xa0 && c <= 0xbf { // fixstr
		if end := pos + 1 + int(c&0x1f); end <= len(b) {
			return b[pos+1 : end], end
		}
		return nil, 0
	}
	if !(c >= 0xd9 && c <= 0xdb || c >= 0xc4 && c <= 0xc6) {
		return nil, 0
	}
	h, err := readHeader(b, pos)
	if err != nil {
		return nil, 0
	}
	end := pos + h.size + h.n
	return b[pos+h.size : end], end
}

// slotHash is a hash of a field name quick enough to beat a search of a
// few names; indexFields finds a table in which it does not collide.
func slotHash(name []byte) uint32 {
	n := len(name)
	if n == 0 {
		return 0
	}
	return uint32(n)*0x9e + uint32(name[0])*3 + uint32(name[n-1])*0x11
}

// indexFields lets walk find s.fields by name: through the smallest table
// of slots in which no two names collide, or else a map.
func (s *shape) indexFields() {
	s.slots, s.byName = nil, nil
	if len(s.fields) == 0 {
		return
	}
	for size := 8; size <= 256 && len(s.fields) < 256; size *= 2 {
		slots := make([]uint8, size)
		ok := true
		for i, f := range s.fields {
			h := slotHash([]byte(f.name)) & uint32(size-1)
			if slots[h] != 0 {
				ok = false
				break
			}
			slots[h] = uint8(i + 1)
		}
		if ok {
			s.slots = slots
			return
		}
	}
	s.byName = make(map[string]*shape, len(s.fields))
	for _, f := range s.fields {
		s.byName[f.name] = f.shape
	}
}

// intAt decodes the msgpack integer at b[pos]: n, or int64(n) if neg, and
// its size in bytes; size is 0 if there is no whole integer there.
func intAt(b []byte, pos int) (n uint64, neg bool, size int) {
	if pos >= len(b) {
		return 0, false, 0
	}
	c := b[pos]
	if c <= 0x7f { // positive fixint
		return uint64(c), false, 1
	}
	if c >= 0xe0 { // negative fixint
		return uint64(int64(int8(c))), true, 1
	}
	var x int64 // a signed integer
	switch c {
	case 0xcc: // uint8
		if pos+1 < len(b) {
			return uint64(b[pos+1]), false, 2
		}
	case 0xcd: // uint16
		if pos+2 < len(b) {
			return uint64(b[pos+1])<<8 | uint64(b[pos+2]), false, 3
		}
	case 0xce: // uint32
		if pos+4 < len(b) {
			return uint64(binary.BigEndian.Uint32(b[pos+1 : pos+5])), false, 5
		}
	case 0xcf: // uint64
		if pos+8 < len(b) {
			return binary.BigEndian.Uint64(b[pos+1 : pos+9]), false, 9
		}
	case 0xd0: // int8
		if pos+1 < len(b) {
			x, size = int64(int8(b[pos+1])), 2
		}
	case 0xd1: // int16
		if pos+2 < len(b) {
			x, size = int64(int16(uint16(b[pos+1])<<8|uint16(b[pos+2]))), 3
		}
	case 0xd2: // int32
		if pos+4 < len(b) {
			x, size = int64(int32(binary.BigEndian.Uint32(b[pos+1:pos+5]))), 5
		}
	case 0xd3: // int64
		if pos+8 < len(b) {
			x, size = int64(binary.BigEndian.Uint64(b[pos+1:pos+9])), 9
		}
	}
	return uint64(x), x < 0, size
}

// keyString renders the map key at b[pos] for an error's path.
func keyString(b []byte, pos int) string {
	h, err := readHeader(b, pos)
	if err != nil || h.kind != kindScalar {
		return "?"
	}
	if n, neg, size := intAt(b, pos); size > 0 {
		if neg {
			return strconv.FormatInt(int64(n), 10)
		}
		return strconv.FormatUint(n, 10)
	}
	if c := b[pos]; c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb {
		return strconv.Quote(string(b[pos+h.size : pos+h.size+h.n]))
	}
	return "?"
}

// rangeError reports a stored integer that the Go type it would be decoded
// into cannot hold.
type rangeError struct {
	n    uint64 // the integer; int64(n) if neg
	neg  bool
	typ  reflect.Type
	path string // where in the value, as .Field[2]; empty for the value itself
}

// Error names the integer, where it is in the value, and the type.
func (e *rangeError) Error() string {
	v := strconv.FormatUint(e.n, 10)
	if e.neg {
		v = strconv.FormatInt(int64(e.n), 10)
	}
	at := ""
	if e.path != "" {
		at = " at " + e.path
	}
	if k := e.typ.Kind(); k == reflect.Float32 || k == reflect.Float64 {
		return fmt.Sprintf("msgpack: integer %s%s is over the int64 range, which msgpack would turn negative in %s", v, at, e.typ)
	}
	return fmt.Sprintf("msgpack: integer %s%s does not fit in %s", v, at, e.typ)
}

// atPath prefixes the path of a rangeError with the step seg.
func atPath(err error, seg string) error {
	if re, ok := err.(*rangeError); ok {
		re.path = seg + re.path
	}
	return err
}

// scalarShape returns the shape of an integer or float type, or nil.
func scalarShape(t reflect.Type) *shape {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return &shape{op: shapeSigned, typ: t, min: -1 << (bits - 1), max: 1<<(bits-1) - 1}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &shape{op: shapeUnsigned, typ: t, max: math.MaxUint64 >> (64 - t.Bits())}
	case reflect.Float32, reflect.Float64:
		// msgpack converts a msgpack integer to a float through an int64.
		return &shape{op: shapeFloat, typ: t, min: math.MinInt64, max: math.MaxInt64}
	}
	return nil
}

var (
	stringType = reflect.TypeFor[string]()
	anyType    = reflect.TypeFor[any]()

	customDecoderType     = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshalerType       = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshalerType   = reflect.TypeFor[encoding.TextUnmarshaler]()
	customEncoderType     = reflect.TypeFor[msgpack.CustomEncoder]()
	marshalerType         = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType     = reflect.TypeFor[encoding.TextMarshaler]()
)

// decodesItself reports whether msgpack decodes t, or a field of type t,
// with t's own method rather than by its kind.
func decodesItself(t reflect.Type) bool {
	if t.Kind() != reflect.Pointer {
		t = reflect.PointerTo(t) // msgpack uses the methods of *T on an addressable T
	}
	return t.Implements(customDecoderType) || t.Implements(unmarshalerType) ||
		t.Implements(binaryUnmarshalerType) || t.Implements(textUnmarshalerType)
}

// encodesItself is decodesItself for encoding.
func encodesItself(t reflect.Type) bool {
	if t.Kind() != reflect.Pointer {
		t = reflect.PointerTo(t)
	}
	return t.Implements(customEncoderType) || t.Implements(marshalerType) ||
		t.Implements(binaryMarshalerType) || t.Implements(textMarshalerType)
}

// shapeBuilder compiles the shape of one type. Types may be recursive, so
// it first builds every composite shape, then drops those that lead to no
// integer.
type shapeBuilder struct {
	built map[reflect.Type]*shape // composite shapes, done or in progress
	all   []*shape
}

// buildShape returns the shape of t, or nil if t holds no integer that
// msgpack decodes by kind.
func buildShape(t reflect.Type) *shape {
	sb := shapeBuilder{built: map[reflect.Type]*shape{}}
	s := sb.of(t)
	return sb.prune(s)
}

// of returns the shape of t, following msgpack v5's choice of decoder
// (getDecoder in its decode_value.go).
func (sb *shapeBuilder) of(t reflect.Type) *shape {
	// A pointer decodes nil as nil and anything else into what it points to.
	for range maxDepth {
		if t.Kind() != reflect.Pointer || decodesItself(t) {
			break
		}
		t = t.Elem()
	}
	if t.Kind() == reflect.Pointer || decodesItself(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Uint8 || e == stringType {
			return nil // bin, or a []string decoded as strings
		}
		return sb.composite(t, shapeList)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // bin
		}
		return sb.composite(t, shapeList)
	case reflect.Map:
		if t.Key() == stringType && (t.Elem() == stringType || t.Elem() == anyType) {
			return nil
		}
		return sb.composite(t, shapeMap)
	case reflect.Struct:
		return sb.composite(t, shapeStruct)
	}
	return scalarShape(t)
}

// composite returns the shape of a slice, array, map or struct type.
func (sb *shapeBuilder) composite(t reflect.Type, op shapeOp) *shape {
	if s, ok := sb.built[t]; ok {
		return s
	}
	s := &shape{op: op, typ: t}
	sb.built[t] = s
	sb.all = append(sb.all, s)
	switch op {
	case shapeList:
		s.elem = sb.of(t.Elem())
	case shapeMap:
		s.key = sb.of(t.Key())
		s.elem = sb.of(t.Elem())
	case shapeStruct:
		fs := msgpackFields(t, 0)
		for _, name := range slices.Sorted(maps.Keys(fs.byName)) {
			if f := fs.byName[name]; f.typ != nil {
				s.fields = append(s.fields, shapeField{name, sb.of(f.typ)})
			}
		}
		s.nordered = len(fs.list)
		s.ordered = make([]*shape, len(fs.list))
		for i, f := range fs.list {
			if f.typ != nil {
				s.ordered[i] = sb.of(f.typ)
			}
		}
	}
	return s
}

// prune drops the composite shapes that lead to no integer and returns
// what is left of root.
func (sb *shapeBuilder) prune(root *shape) *shape {
	live := map[*shape]bool{}
	isLive := func(s *shape) bool { return s != nil && (s.op <= shapeFloat || live[s]) }
	for changed := true; changed; {
		changed = false
		for _, s := range sb.all {
			if live[s] {
				continue
			}
			if isLive(s.key) || isLive(s.elem) ||
				slices.ContainsFunc(s.fields, func(f shapeField) bool { return isLive(f.shape) }) ||
				slices.ContainsFunc(s.ordered, isLive) {
				live[s] = true
				changed = true
			}
		}
	}
	for _, s := range sb.all {
		if !isLive(s.key) {
			s.key = nil
		}
		if !isLive(s.elem) {
			s.elem = nil
		}
		s.fields = slices.DeleteFunc(s.fields, func(f shapeField) bool { return !isLive(f.shape) })
		s.indexFields()
		for i, f := range s.ordered {
			if !isLive(f) {
				s.ordered[i] = nil
			}
		}
		if !slices.ContainsFunc(s.ordered, isLive) {
			s.ordered = nil
		}
	}
	if !isLive(root) {
		return nil
	}
	return root
}

// msgField is a struct field as msgpack v5 decodes it.
type msgField struct {
	name string
	typ  reflect.Type // nil for an interned string, which holds no integer
}

// msgFields are the fields of a struct type as msgpack v5 decodes it.
type msgFields struct {
	byName map[string]*msgField // the field each known map key decodes into
	list   []*msgField          // the fields of the array form, in order
}

func (fs *msgFields) add(f *msgField) {
	fs.byName[f.name] = f
	fs.list = append(fs.list, f)
}

// msgpackFields returns the fields of the struct type t as msgpack v5.4.1
// matches map keys to them: a copy of getFields in its types.go, with no
// custom struct tag, keeping only names and types. It must follow msgpack
// exactly; TestMsgpackFieldsMatchMsgpack compares the two.
func msgpackFields(t reflect.Type, depth int) *msgFields {
	fs := &msgFields{byName: map[string]*msgField{}}
	if depth > 32 { // msgpack itself recurses without end on such a type
		return fs
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := tagparser.Parse(sf.Tag.Get("msgpack"))
		if tag.Name == "-" || !sf.IsExported() && !sf.Anonymous {
			continue
		}
		f := &msgField{name: tag.Name, typ: sf.Type}
		if tag.HasOption("intern") {
			f.typ = nil
		}
		if f.name == "" {
			f.name = sf.Name
		}
		if sf.Anonymous && !tag.HasOption("noinline") {
			inline := tag.HasOption("inline")
			if inline {
				fs.inline(sf.Type, depth)
			} else {
				inline = fs.autoInline(sf.Type, depth)
			}
			if inline {
				fs.byName[f.name] = f
				continue
			}
		}
		fs.add(f)
		if alias, ok := tag.Options["alias"]; ok {
			fs.byName[alias] = f
		}
	}
	return fs
}

// inline adds the fields of the embedded struct type t that do not clash
// with fields already there (msgpack's inlineFields).
func (fs *msgFields) inline(t reflect.Type, depth int) {
	if t.Kind() != reflect.Struct {
		return // msgpack panics
	}
	for _, f := range msgpackFields(t, depth+1).list {
		if _, ok := fs.byName[f.name]; !ok {
			fs.add(f)
		}
	}
}

// autoInline adds the fields of the embedded type t and reports true if t
// is a struct, or pointer to one, that msgpack encodes and decodes by kind
// and none of whose fields clashes with one already there (msgpack's
// shouldInline).
func (fs *msgFields) autoInline(t reflect.Type, depth int) bool {
	for range maxDepth {
		if t.Kind() != reflect.Pointer {
			break
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || decodesItself(t) || encodesItself(t) {
		return false
	}
	inner := msgpackFields(t, depth+1).list
	for _, f := range inner {
		if _, ok := fs.byName[f.name]; ok {
			return false
		}
	}
	for _, f := range inner {
		fs.add(f)
	}
	return true
}
