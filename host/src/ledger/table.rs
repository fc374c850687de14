//! A Parquet file written column by column from rows kept in memory, one
//! row group at a time: the low-level `parquet` writer, without Arrow (the
//! tables are flat and their types few, so Arrow's arrays would only be a
//! second copy of the same buffers, and a much larger build).

use std::io::Write;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// Rows per row group: DuckDB and Spark read row groups in parallel, and
/// about 100,000 rows keeps the memory of one in flight to tens of MB.
pub const ROW_GROUP_ROWS: usize = 100_000;

/// The Parquet type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text (`BYTE_ARRAY (STRING)`), dictionary-encoded where it repeats.
    Text,
    /// 64-bit signed integer.
    Int,
    /// A point in time: `INT64 (TIMESTAMP(MICROS, true))`, microseconds since
    /// the Unix epoch, UTC.
    Time,
    /// A UTC calendar day: `INT32 (DATE)`, days since 1970-01-01.
    Date,
    /// 64-bit IEEE float.
    Float,
}

/// One column: name, type, whether it may be null, and what it holds (for
/// the documentation, which is generated from the same table).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub doc: &'static str,
}

/// A value of one row, in column order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    /// Seconds since the epoch (stored as microseconds).
    Time(i64),
    /// Days since the epoch.
    Date(i64),
    Float(f64),
}

/// The Parquet message type of `columns`.
pub fn message_type(name: &str, columns: &[Column]) -> String {
    let mut out = format!("message {name} {{\n");
    for c in columns {
        let repetition = if c.nullable { "OPTIONAL" } else { "REQUIRED" };
        let ty = match c.kind {
            Kind::Text => "BYTE_ARRAY",
            Kind::Int | Kind::Time => "INT64",
            Kind::Date => "INT32",
            Kind::Float => "DOUBLE",
        };
        let logical = match c.kind {
            Kind::Text => " (STRING)",
            Kind::Time => " (TIMESTAMP(MICROS,true))",
            Kind::Date => " (DATE)",
            _ => "",
        };
        out.push_str(&format!("  {repetition} {ty} {}{logical};\n", c.name));
    }
    out.push('}');
    out
}

/// A Parquet file being written: rows are buffered and written a row group
/// at a time.
pub struct TableWriter<W: Write + Send> {
    columns: &'static [Column],
    writer: SerializedFileWriter<W>,
    rows: Vec<Vec<Value>>,
    written: u64,
}

impl<W: Write + Send> TableWriter<W> {
    /// `metadata` is written in the file's footer (key-value metadata).
    pub fn new(
        sink: W,
        table: &str,
        columns: &'static [Column],
        metadata: Vec<(String, String)>,
    ) -> parquet::errors::Result<Self> {
        let schema = Arc::new(parse_message_type(&message_type(table, columns))?);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_created_by(format!("entrex {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(
                metadata
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k, v))
                    .collect(),
            ))
            .build();
        Ok(TableWriter {
            columns,
            writer: SerializedFileWriter::new(sink, schema, Arc::new(props))?,
            rows: Vec::new(),
            written: 0,
        })
    }

    /// Adds a row (one value per column, in order).
    pub fn push(&mut self, row: Vec<Value>) -> parquet::errors::Result<()> {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
        if self.rows.len() >= ROW_GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.written + self.rows.len() as u64
    }

    fn flush_group(&mut self) -> parquet::errors::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut group = self.writer.next_row_group()?;
        let mut index = 0;
        while let Some(mut column) = group.next_column()? {
            let spec = self.columns[index];
            let values = rows.iter().map(|r| &r[index]);
            let levels: Option<Vec<i16>> = spec.nullable.then(|| {
                values
                    .clone()
                    .map(|v| i16::from(*v != Value::Null))
                    .collect()
            });
            let levels = levels.as_deref();
            let bad = |v: &Value| {
                parquet::errors::ParquetError::General(format!(
                    "column {} ({:?}) given {v:?}",
                    spec.name, spec.kind
                ))
            };
            match spec.kind {
                Kind::Text => {
                    let mut out = Vec::with_capacity(rows.len());
                    for v in values {
                        match v {
                            Value::Text(s) => out.push(ByteArray::from(s.as_str())),
                            Value::Null => {}
                            other => return Err(bad(other)),
                        }
                    }
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&out, levels, None)?;
                }
                Kind::Int | Kind::Time => {
                    let mut out = Vec::with_capacity(rows.len());
                    for v in values {
                        match (spec.kind, v) {
                            (Kind::Int, Value::Int(n)) => out.push(*n),
                            (Kind::Time, Value::Time(t)) => out.push(t.saturating_mul(1_000_000)),
                            (_, Value::Null) => {}
                            (_, other) => return Err(bad(other)),
                        }
                    }
                    column
                        .typed::<Int64Type>()
                        .write_batch(&out, levels, None)?;
                }
                Kind::Date => {
                    let mut out = Vec::with_capacity(rows.len());
                    for v in values {
                        match v {
                            Value::Date(d) => out.push(*d as i32),
                            Value::Null => {}
                            other => return Err(bad(other)),
                        }
                    }
                    column
                        .typed::<Int32Type>()
                        .write_batch(&out, levels, None)?;
                }
                Kind::Float => {
                    let mut out = Vec::with_capacity(rows.len());
                    for v in values {
                        match v {
                            Value::Float(x) => out.push(*x),
                            Value::Null => {}
                            other => return Err(bad(other)),
                        }
                    }
                    column
                        .typed::<DoubleType>()
                        .write_batch(&out, levels, None)?;
                }
            }
            column.close()?;
            index += 1;
        }
        group.close()?;
        self.written += rows.len() as u64;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the sink.
    pub fn finish(mut self) -> parquet::errors::Result<W> {
        self.flush_group()?;
        self.writer.into_inner()
    }
}
