package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "LINGPAI_"

// Keys lists every configuration key as its dotted path (server.addr, database.dsn, ...), derived
// from the struct so the list can never drift from what Load accepts.
func Keys() []string {
	var keys []string
	walk(reflect.TypeOf(Config{}), "", func(path string, _ reflect.Type) { keys = append(keys, path) })
	sort.Strings(keys)
	return keys
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func walk(t reflect.Type, prefix string, leaf func(path string, t reflect.Type)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name := strings.Split(tag, ",")[0]
		if strings.Contains(tag, ",inline") {
			walk(f.Type, prefix, leaf) // an inlined struct's keys sit at its parent's level
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			walk(ft, path, leaf)
			continue
		}
		leaf(path, f.Type)
	}
}

// applyEnv sets every key whose LINGPAI_* variable is present. The mapping is computed from the
// schema rather than by splitting names on "_", because key names themselves contain underscores.
// A LINGPAI_* variable that names no key is an error: it is a typo that would otherwise be ignored.
func applyEnv(cfg *Config, env []string) error {
	byName := map[string]string{}
	for _, k := range Keys() {
		byName[EnvName(k)] = k
	}
	var errs []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue // test-suite settings (LINGPAI_TEST_MYSQL_DSN) are not configuration
		}
		key, known := byName[name]
		if !known {
			errs = append(errs, fmt.Sprintf("%s: names no configuration key", name))
			continue
		}
		if err := setPath(reflect.ValueOf(cfg).Elem(), strings.Split(key, "."), value); err != nil {
			errs = append(errs, fmt.Sprintf("%s (%s): %v", name, key, err))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("config: environment:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func setPath(v reflect.Value, path []string, raw string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if strings.Contains(tag, ",inline") {
			if err := setPath(v.Field(i), path, raw); !errors.Is(err, errUnknownKey) {
				return err
			}
			continue
		}
		if strings.Split(tag, ",")[0] != path[0] {
			continue
		}
		fv := v.Field(i)
		if len(path) == 1 {
			return setScalar(fv, raw)
		}
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				fv.Set(reflect.New(fv.Type().Elem()))
			}
			fv = fv.Elem()
		}
		return setPath(fv, path[1:], raw)
	}
	return errUnknownKey
}

var errUnknownKey = errors.New("unknown key")

func setScalar(v reflect.Value, raw string) error {
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		if err := setScalar(nv.Elem(), raw); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration (write 90s, 5m, 1h): %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not true or false: %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", raw)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment; use config.yaml")
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment; use config.yaml")
	}
	return nil
}
