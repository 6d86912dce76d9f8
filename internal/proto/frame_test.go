package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := BindRequest{Proto: ProtoHTTP, Domain: "app", Pooling: true, ForwardsTo: "http://localhost:8080"}
	if err := WriteFrame(&buf, TypeBind, req); err != nil {
		t.Fatal(err)
	}
	if err := WriteError(&buf, Errorf(CodeEndpointOnline, "app is online")); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("raw bytes after the frames")

	f, err := ReadFrame(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got BindRequest
	if err := f.Expect(TypeBind, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got); diff != "" {
		t.Fatalf("bind request mismatch (-want +got):\n%s", diff)
	}

	f, err = ReadFrame(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Expect(TypeBind, &got)
	if CodeOf(err) != CodeEndpointOnline || !strings.Contains(err.Error(), "app is online") {
		t.Fatalf("error frame decoded to %v", err)
	}
	if rest, _ := io.ReadAll(&buf); string(rest) != "raw bytes after the frames" {
		t.Fatalf("ReadFrame read past its frame: rest %q", rest)
	}
}

func rawFrame(t Type, n uint32, body string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(t))
	b = binary.BigEndian.AppendUint32(b, n)
	return append(b, body...)
}

func TestReadFrameMalformed(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		code    string
		wantEOF bool
	}{
		{name: "empty input is a clean EOF", in: nil, wantEOF: true},
		{name: "header cut short", in: []byte{0, 2, 0}, code: CodeBadFrame},
		{name: "type zero", in: rawFrame(0, 0, ""), code: CodeBadFrame},
		{name: "body cut short", in: rawFrame(TypeBind, 10, `{"a"`), code: CodeBadFrame},
		{name: "too large", in: rawFrame(TypeBind, MaxBodySize+1, ""), code: CodeFrameTooLarge},
		{name: "huge length", in: rawFrame(TypeBind, 0xffffffff, ""), code: CodeFrameTooLarge},
		{name: "custom limit", in: rawFrame(TypeBind, 11, "{}"), max: 10, code: CodeFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if tt.wantEOF {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				return
			}
			if CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		code string
	}{
		{"not json", Frame{Type: TypeBind, Body: []byte("{nope")}, CodeBadFrame},
		{"wrong json type", Frame{Type: TypeBind, Body: []byte(`{"proto":42}`)}, CodeBadFrame},
		{"error without code", Frame{Type: TypeError, Body: []byte(`{"msg":"x"}`)}, CodeBadFrame},
		{"unexpected type", Frame{Type: TypeUnbind, Body: []byte(`{}`)}, CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req BindRequest
			if err := tt.f.Expect(TypeBind, &req); CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	err := WriteFrame(io.Discard, TypeBind, BindRequest{Metadata: strings.Repeat("m", MaxBodySize)})
	if CodeOf(err) != CodeFrameTooLarge {
		t.Fatalf("err = %v, want %s", err, CodeFrameTooLarge)
	}
}

func TestTypeNamesAreStable(t *testing.T) {
	// Numbers are part of the wire format: this table may only grow.
	want := map[Type]string{
		1: "error", 2: "auth", 3: "bind", 4: "unbind", 5: "control", 6: "heartbeat",
		7: "proxy", 8: "stop", 9: "restart", 10: "drain", 11: "command_result", 12: "probe",
	}
	for n, name := range want {
		if n.String() != name {
			t.Errorf("Type(%d) = %s, want %s", n, n, name)
		}
	}
	if Type(999).String() != "type_999" {
		t.Errorf("unknown type name %s", Type(999))
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteError(&buf, errors.New("pq: password authentication failed for user bff"))
	f, _ := ReadFrame(&buf, 0)
	err := f.Decode(nil)
	if CodeOf(err) != CodeInternal || strings.Contains(err.Error(), "password") {
		t.Fatalf("wire error = %v", err)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame decoder: it must never
// panic, never allocate more than the limit, and round-trip what it
// accepts.
func FuzzReadFrame(f *testing.F) {
	f.Add(rawFrame(TypeAuth, 2, "{}"))
	f.Add(rawFrame(TypeError, 27, `{"code":"ERR_X","msg":"no"}`))
	f.Add(rawFrame(TypeBind, 0xffffffff, ""))
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 12
		r := bytes.NewReader(in)
		for {
			fr, err := ReadFrame(r, limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && CodeOf(err) == "" {
					t.Fatalf("undiagnosed error %v", err)
				}
				return
			}
			if fr.Type == 0 || len(fr.Body) > limit {
				t.Fatalf("accepted invalid frame type %d len %d", fr.Type, len(fr.Body))
			}
			enc := AppendFrame(nil, fr.Type, fr.Body)
			again, err := ReadFrame(bytes.NewReader(enc), limit)
			if err != nil || again.Type != fr.Type || !bytes.Equal(again.Body, fr.Body) {
				t.Fatalf("round trip failed: %v", err)
			}
			var v map[string]any
			_ = fr.Decode(&v) // must not panic
		}
	})
}
