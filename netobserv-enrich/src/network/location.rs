//! ip2location databases in their documented BIN format, for `add_location`.
//!
//! The layout (all integers little-endian, offsets 1-based unless said otherwise):
//! a header — byte 1 database type (1 to 26: which columns the rows have), byte 2 column count,
//! bytes 3-5 year/month/day, then u32s: IPv4 row count (6), IPv4 rows offset (10), IPv6 row
//! count (14), IPv6 rows offset (18), IPv4 index offset (22), IPv6 index offset (26), 0 when
//! there is no index. Rows are sorted by their first column, the start of a range (u32 for
//! IPv4, u128 for IPv6); a range ends where the next row starts, so a section holds one row
//! more than its count. The other columns are u32: offsets (0-based) of strings stored as a
//! length byte and the bytes, or f32 values for latitude and longitude. The country column
//! points at the two-letter code, and the long name follows 3 bytes after it. An index maps
//! the top 16 bits of an address to the row range to search (8 bytes per entry).

use std::net::IpAddr;
use std::path::Path;

/// 1-based column positions by database type (index = type); 0 when the type has no such column.
const COUNTRY: [u8; 27] = [
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
];
const REGION: [u8; 27] = [
    0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
];
const CITY: [u8; 27] = [
    0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
];
const LATITUDE: [u8; 27] = [
    0, 0, 0, 0, 0, 5, 5, 0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
];
const LONGITUDE: [u8; 27] = [
    0, 0, 0, 0, 0, 6, 6, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
];

/// What `add_location` writes about an address. Fields a database type lacks are empty (or 0).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// Two-letter country code (`US`).
    pub country_short: String,
    /// Country name (`United States of America`).
    pub country_long: String,
    /// Region (`California`).
    pub region: String,
    /// City (`Mountain View`).
    pub city: String,
    /// Latitude.
    pub latitude: f32,
    /// Longitude.
    pub longitude: f32,
}

/// An ip2location BIN database held in memory.
#[derive(Debug)]
pub struct LocationDb {
    data: Vec<u8>,
    db_type: u8,
    v4: Section,
    v6: Section,
}

#[derive(Debug, Clone, Copy)]
struct Section {
    count: u32,
    /// 0-based offset of the first row.
    base: usize,
    /// 0-based offset of the index, when there is one.
    index: Option<usize>,
    row_size: usize,
    key_size: usize,
}

impl LocationDb {
    /// Reads a database file. A zip archive (upstream's download) is refused with a message
    /// saying to unzip it.
    pub fn open(path: &Path) -> Result<LocationDb, OpenError> {
        let data = std::fs::read(path).map_err(OpenError::Read)?;
        if data.starts_with(b"PK\x03\x04") {
            return Err(OpenError::Format(
                "it is a zip archive: unzip it and give the .BIN file it holds".into(),
            ));
        }
        LocationDb::from_bytes(data).map_err(OpenError::Format)
    }

    /// A database from its bytes.
    pub fn from_bytes(data: Vec<u8>) -> Result<LocationDb, String> {
        if data.len() < 32 {
            return Err(format!("{} bytes: too short for the header", data.len()));
        }
        let db_type = data[0];
        let columns = usize::from(data[1]);
        if !(1..=26).contains(&db_type) {
            return Err(format!("database type {db_type} (expected 1 to 26)"));
        }
        if columns < 2 {
            return Err(format!("{columns} columns (expected at least 2)"));
        }
        let u32_at = |pos: usize| {
            u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]])
        };
        let offset = |v: u32| (v as usize).checked_sub(1);
        let section = |count: u32,
                       base: u32,
                       index: u32,
                       key_size: usize|
         -> Result<Section, String> {
            let row_size = key_size + (columns - 1) * 4;
            let s = Section {
                count,
                base: if count == 0 {
                    0
                } else {
                    offset(base).ok_or("a section starts at offset 0")?
                },
                index: offset(index),
                row_size,
                key_size,
            };
            // Every row a lookup may read, the extra end row included, must be in the file.
            let end = s.base + (count as usize + 1) * row_size;
            if count > 0 && end > data.len() {
                return Err(format!(
                    "{count} rows of {row_size} bytes from offset {} run past the end ({} bytes)",
                    s.base,
                    data.len()
                ));
            }
            if let Some(i) = s.index
                && i + 65536 * 8 > data.len()
            {
                return Err(format!("the index at offset {i} runs past the end"));
            }
            Ok(s)
        };
        let v4 = section(u32_at(5), u32_at(9), u32_at(21), 4)?;
        let v6 = section(u32_at(13), u32_at(17), u32_at(25), 16)?;
        Ok(LocationDb {
            data,
            db_type,
            v4,
            v6,
        })
    }

    fn u32_at(&self, pos: usize) -> Option<u32> {
        let b = self.data.get(pos..pos + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn key_at(&self, s: &Section, row: u32) -> Option<u128> {
        let pos = s.base + row as usize * s.row_size;
        let b = self.data.get(pos..pos + s.key_size)?;
        let mut buf = [0u8; 16];
        buf[..s.key_size].copy_from_slice(b);
        Some(u128::from_le_bytes(buf))
    }

    fn string_at(&self, pos: u32) -> String {
        let pos = pos as usize;
        let Some(&len) = self.data.get(pos) else {
            return String::new();
        };
        self.data
            .get(pos + 1..pos + 1 + usize::from(len))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    /// The location of `ip`; `None` when no range holds it (or the database has no section for
    /// its family). IPv4-mapped IPv6 addresses are looked up as IPv4, as ip2location does.
    pub fn lookup(&self, ip: IpAddr) -> Option<Location> {
        let (s, mut key, max) = match ip.to_canonical() {
            IpAddr::V4(a) => (&self.v4, u128::from(a.to_bits()), u128::from(u32::MAX)),
            IpAddr::V6(a) => (&self.v6, a.to_bits(), u128::MAX),
        };
        if s.count == 0 {
            return None;
        }
        // The last address belongs to the last range, which ends at the maximum.
        if key >= max {
            key = max - 1;
        }
        let (mut low, mut high) = (0u32, s.count);
        if let Some(index) = s.index {
            let shift = if s.key_size == 4 { 16 } else { 112 };
            let pos = index + ((key >> shift) as usize) * 8;
            low = self.u32_at(pos)?;
            high = self.u32_at(pos + 4)?.min(s.count);
        }
        while low <= high {
            let mid = low + (high - low) / 2;
            let from = self.key_at(s, mid)?;
            if key < from {
                high = mid.checked_sub(1)?;
                continue;
            }
            if key < self.key_at(s, mid + 1)? {
                return Some(self.row(s, mid));
            }
            low = mid + 1;
        }
        None
    }

    fn row(&self, s: &Section, row: u32) -> Location {
        let t = usize::from(self.db_type);
        let start = s.base + row as usize * s.row_size + s.key_size;
        // Column n (1-based, the range start being column 1) of this row.
        let col = |pos: u8| -> Option<u32> {
            (pos >= 2)
                .then(|| self.u32_at(start + usize::from(pos - 2) * 4))
                .flatten()
        };
        let mut loc = Location::default();
        if let Some(p) = col(COUNTRY[t]) {
            loc.country_short = self.string_at(p);
            loc.country_long = self.string_at(p + 3);
        }
        if let Some(p) = col(REGION[t]) {
            loc.region = self.string_at(p);
        }
        if let Some(p) = col(CITY[t]) {
            loc.city = self.string_at(p);
        }
        if let Some(v) = col(LATITUDE[t]) {
            loc.latitude = f32::from_bits(v);
        }
        if let Some(v) = col(LONGITUDE[t]) {
            loc.longitude = f32::from_bits(v);
        }
        loc
    }
}

/// Why a database cannot be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The file cannot be read.
    Read(std::io::Error),
    /// The bytes are not a BIN database.
    Format(String),
}

/// Writes small databases of type 9 (country, region, city, latitude, longitude, zip code) in
/// the BIN format, without index: for tests, and for private address plans.
#[derive(Debug, Default, Clone)]
pub struct BinWriter {
    v4: Vec<(u32, Location)>,
    v6: Vec<(u128, Location)>,
}

impl BinWriter {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a range starting at `start` and running to the next range's start (or the end of
    /// the family's addresses). Use an empty [`Location`] to end a range without location.
    pub fn range(mut self, start: IpAddr, loc: Location) -> Self {
        match start {
            IpAddr::V4(a) => self.v4.push((a.to_bits(), loc)),
            IpAddr::V6(a) => self.v6.push((a.to_bits(), loc)),
        }
        self
    }

    /// The database bytes.
    pub fn build(mut self) -> Vec<u8> {
        const COLUMNS: usize = 7;
        self.v4.sort_by_key(|(k, _)| *k);
        self.v6.sort_by_key(|(k, _)| *k);
        // Ranges from 0: a gap before the first range has no location.
        if self.v4.first().is_some_and(|(k, _)| *k != 0) {
            self.v4.insert(0, (0, Location::default()));
        }
        if self.v6.first().is_some_and(|(k, _)| *k != 0) {
            self.v6.insert(0, (0, Location::default()));
        }
        let row4 = 4 + (COLUMNS - 1) * 4;
        let row6 = 16 + (COLUMNS - 1) * 4;
        let header = 64;
        let v4_base = header;
        let v6_base = v4_base + (self.v4.len() + 1) * row4;
        let strings_base = v6_base + (self.v6.len() + 1) * row6;
        let mut strings: Vec<u8> = Vec::new();
        let mut put_str = |s: &str| -> u32 {
            let pos = (strings_base + strings.len()) as u32;
            let b = &s.as_bytes()[..s.len().min(255)];
            strings.push(b.len() as u8);
            strings.extend_from_slice(b);
            pos
        };
        let mut columns = |loc: &Location| -> Vec<u8> {
            // The long country name sits 3 bytes after the code's length byte.
            let code: String = loc
                .country_short
                .chars()
                .filter(char::is_ascii)
                .take(2)
                .collect();
            let country = put_str(&code);
            for _ in code.len()..2 {
                put_str("");
            }
            put_str(&loc.country_long);
            let region = put_str(&loc.region);
            let city = put_str(&loc.city);
            let zip = put_str("-");
            let mut v = Vec::with_capacity((COLUMNS - 1) * 4);
            for x in [
                country,
                region,
                city,
                loc.latitude.to_bits(),
                loc.longitude.to_bits(),
                zip,
            ] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v
        };
        let mut out = vec![0u8; header];
        out[0] = 9;
        out[1] = COLUMNS as u8;
        out[2] = 26;
        out[3] = 1;
        out[4] = 1;
        let put32 = |out: &mut Vec<u8>, pos: usize, v: u32| {
            out[pos..pos + 4].copy_from_slice(&v.to_le_bytes());
        };
        put32(&mut out, 5, self.v4.len() as u32);
        put32(&mut out, 9, v4_base as u32 + 1);
        put32(&mut out, 13, self.v6.len() as u32);
        put32(&mut out, 17, v6_base as u32 + 1);
        let empty = Location::default();
        for (k, loc) in &self.v4 {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&columns(loc));
        }
        // The end row: the last range runs to the maximum.
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&columns(&empty));
        for (k, loc) in &self.v6 {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&columns(loc));
        }
        out.extend_from_slice(&u128::MAX.to_le_bytes());
        out.extend_from_slice(&columns(&empty));
        debug_assert_eq!(out.len(), strings_base);
        out.extend_from_slice(&strings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(code: &str, long: &str, region: &str, city: &str, lat: f32, lon: f32) -> Location {
        Location {
            country_short: code.into(),
            country_long: long.into(),
            region: region.into(),
            city: city.into(),
            latitude: lat,
            longitude: lon,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_found_in_both_families() {
        let us = loc(
            "US",
            "United States of America",
            "California",
            "Mountain View",
            37.38605,
            -122.08385,
        );
        let fr = loc("FR", "France", "Ile-de-France", "Paris", 48.85341, 2.3488);
        let bytes = BinWriter::new()
            .range(ip("8.8.8.0"), us.clone())
            .range(ip("8.8.9.0"), Location::default())
            .range(ip("90.0.0.0"), fr.clone())
            .range(ip("91.0.0.0"), Location::default())
            .range(ip("2a01:e00::"), fr.clone())
            .range(ip("2a01:e01::"), Location::default())
            .build();
        let db = LocationDb::from_bytes(bytes).unwrap();
        assert_eq!(db.lookup(ip("8.8.8.8")), Some(us.clone()));
        assert_eq!(db.lookup(ip("8.8.8.255")), Some(us.clone()));
        assert_eq!(db.lookup(ip("::ffff:8.8.8.8")), Some(us));
        assert_eq!(db.lookup(ip("90.12.1.1")), Some(fr.clone()));
        assert_eq!(db.lookup(ip("2a01:e00::1")), Some(fr));
        // In no range with a location: an empty location, as ip2location answers.
        let none = db.lookup(ip("8.8.9.1")).unwrap();
        assert_eq!(none.country_short, "");
        assert_eq!(none.country_long, "");
        assert_eq!(none.city, "");
        assert_eq!(db.lookup(ip("1.1.1.1")).unwrap().city, "");
        assert_eq!(db.lookup(ip("255.255.255.255")).unwrap().city, "");
        assert_eq!(db.lookup(ip("ffff::1")).unwrap().city, "");
    }

    proptest::proptest! {
        /// Whatever the bytes, reading them and looking addresses up never panics.
        #[test]
        fn any_bytes_read_without_panic(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            db_type in 1u8..=26,
            columns in 2u8..=8,
            ips in proptest::collection::vec(proptest::prelude::any::<u128>(), 1..8),
        ) {
            // Mostly plausible headers, so that lookups run on the rest.
            if bytes.len() > 2 {
                bytes[0] = db_type;
                bytes[1] = columns;
            }
            if let Ok(db) = LocationDb::from_bytes(bytes) {
                for k in ips {
                    let _ = db.lookup(IpAddr::V6(std::net::Ipv6Addr::from_bits(k)));
                    let _ = db.lookup(IpAddr::V4(std::net::Ipv4Addr::from_bits(k as u32)));
                }
            }
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(
            LocationDb::from_bytes(vec![0; 10])
                .unwrap_err()
                .contains("too short")
        );
        let mut b = BinWriter::new()
            .range(ip("1.0.0.0"), Location::default())
            .build();
        b[0] = 40;
        assert!(
            LocationDb::from_bytes(b.clone())
                .unwrap_err()
                .contains("type 40")
        );
        b[0] = 9;
        b[5] = 200; // far more rows than the file holds
        assert!(
            LocationDb::from_bytes(b)
                .unwrap_err()
                .contains("past the end")
        );
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("db.zip");
        std::fs::write(&zip, b"PK\x03\x04rest").unwrap();
        match LocationDb::open(&zip) {
            Err(OpenError::Format(m)) => assert!(m.contains("unzip"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            LocationDb::open(&dir.path().join("absent.bin")),
            Err(OpenError::Read(_))
        ));
    }
}
