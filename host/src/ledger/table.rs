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

/// One column's values of the row group being gathered, in the type it is
/// written in, with its definition levels (1 present, 0 null) if nullable.
enum Buffer {
    Text(Vec<ByteArray>),
    Int(Vec<i64>),
    Date(Vec<i32>),
    Float(Vec<f64>),
}

/// A Parquet file being written: rows are gathered column by column (each
/// value moved into its column's buffer as it comes, text without a copy)
/// and written a row group at a time.
pub struct TableWriter<W: Write + Send> {
    columns: &'static [Column],
    writer: SerializedFileWriter<W>,
    buffers: Vec<(Buffer, Vec<i16>)>,
    pending: usize,
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
        let mut writer = TableWriter {
            columns,
            writer: SerializedFileWriter::new(sink, schema, Arc::new(props))?,
            buffers: Vec::new(),
            pending: 0,
            written: 0,
        };
        writer.buffers = writer.empty_buffers();
        Ok(writer)
    }

    fn empty_buffers(&self) -> Vec<(Buffer, Vec<i16>)> {
        self.columns
            .iter()
            .map(|c| {
                let buffer = match c.kind {
                    Kind::Text => Buffer::Text(Vec::with_capacity(ROW_GROUP_ROWS)),
                    Kind::Int | Kind::Time => Buffer::Int(Vec::with_capacity(ROW_GROUP_ROWS)),
                    Kind::Date => Buffer::Date(Vec::with_capacity(ROW_GROUP_ROWS)),
                    Kind::Float => Buffer::Float(Vec::with_capacity(ROW_GROUP_ROWS)),
                };
                let levels = if c.nullable {
                    Vec::with_capacity(ROW_GROUP_ROWS)
                } else {
                    Vec::new()
                };
                (buffer, levels)
            })
            .collect()
    }

    /// Adds a row (one value per column, in order).
    pub fn push(&mut self, row: Vec<Value>) -> parquet::errors::Result<()> {
        debug_assert_eq!(row.len(), self.columns.len());
        for ((spec, (buffer, levels)), value) in self.columns.iter().zip(&mut self.buffers).zip(row)
        {
            let present = value != Value::Null;
            if spec.nullable {
                levels.push(i16::from(present));
            }
            match (buffer, spec.kind, value) {
                (_, _, Value::Null) if spec.nullable => {}
                (Buffer::Text(out), Kind::Text, Value::Text(s)) => {
                    out.push(ByteArray::from(s.into_bytes()))
                }
                (Buffer::Int(out), Kind::Int, Value::Int(n)) => out.push(n),
                (Buffer::Int(out), Kind::Time, Value::Time(t)) => {
                    out.push(t.saturating_mul(1_000_000))
                }
                (Buffer::Date(out), Kind::Date, Value::Date(d)) => out.push(d as i32),
                (Buffer::Float(out), Kind::Float, Value::Float(x)) => out.push(x),
                (_, _, other) => {
                    return Err(parquet::errors::ParquetError::General(format!(
                        "column {} ({:?}) given {other:?}",
                        spec.name, spec.kind
                    )));
                }
            }
        }
        self.pending += 1;
        if self.pending >= ROW_GROUP_ROWS {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.written + self.pending as u64
    }

    fn flush_group(&mut self) -> parquet::errors::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let fresh = self.empty_buffers();
        let buffers = std::mem::replace(&mut self.buffers, fresh);
        let mut group = self.writer.next_row_group()?;
        let mut buffers = buffers.into_iter();
        while let Some(mut column) = group.next_column()? {
            let (buffer, levels) = buffers.next().expect("one buffer per column");
            let levels = (!levels.is_empty()).then_some(levels.as_slice());
            match buffer {
                Buffer::Text(v) => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&v, levels, None)?;
                }
                Buffer::Int(v) => {
                    column.typed::<Int64Type>().write_batch(&v, levels, None)?;
                }
                Buffer::Date(v) => {
                    column.typed::<Int32Type>().write_batch(&v, levels, None)?;
                }
                Buffer::Float(v) => {
                    column.typed::<DoubleType>().write_batch(&v, levels, None)?;
                }
            }
            column.close()?;
        }
        group.close()?;
        self.written += self.pending as u64;
        self.pending = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the sink.
    pub fn finish(mut self) -> parquet::errors::Result<W> {
        self.flush_group()?;
        self.writer.into_inner()
    }
}
