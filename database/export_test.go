package database

// MigrateTo applies the embedded migrations up to version only, for tests
// that check a migration against a database holding data.
func (d *DB) MigrateTo(version uint) error {
	m, err := d.migrator()
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Migrate(version)
}
