// Package importer reads sensor readings from CSV, TSV and
// whitespace-separated text files, such as data loggers and public
// datasets write them, with no editing of the files by hand.
//
// A Reader reads a sample of the leading lines (Options.SampleRows lines
// or Options.SampleBytes bytes, 1000 lines or 1 MiB by default), detects
// the layout from it, then streams the whole file, sample included, one
// line at a time. Memory stays bounded by the sample and one line of at
// most Options.MaxLineBytes, whatever the size of the file. Every row that
// does not give a valid reading is rejected with its file, line number and
// reason. It is counted in the Summary and passed to Options.OnReject, and
// with Options.Strict the first one ends the import.
//
// # Detection
//
// Each step below can be overridden by an option or the column map, and
// Layout.Notes records the guesses a user may want to check.
//
//   - Encoding. A UTF-8 byte order mark is skipped. A UTF-16 one, a NUL
//     byte or more than 10% control bytes in the first 8 KiB fail the
//     import with ErrBinary. A text cell that is not valid UTF-8 is read
//     as Latin-1.
//   - Lines end in "\n" or "\r\n". A last line without a line end is read
//     like any other; if it does not parse, it is rejected as
//     ReasonTruncated. A truncated line that still parses, such as one cut
//     inside its last number, cannot be told from a complete one.
//   - Blank lines, and lines whose cells are all empty (";;;;"), are
//     skipped and counted.
//   - Delimiter: of tab, semicolon, comma, pipe and whitespace, the one
//     that splits at least 90% of the sample lines into the same number of
//     cells, two or more. The highest share wins, then the most cells, then
//     that order. Whitespace means runs of spaces and tabs. Cells may be
//     quoted in double quotes, except with whitespace, but a quoted cell
//     cannot span lines.
//   - Digit groups: in a number, a space, a no-break space (Latin-1 0xA0,
//     as the ULB files have, or UTF-8), a narrow no-break space or a thin
//     space between groups of three digits is dropped: "1 000" is 1000.
//     In whitespace-separated files an ASCII space splits such a number
//     into two cells. They are joined again at the column where the rows
//     one cell longer than most put the extra cell or, when every row is
//     split alike, where a column of three digits, some starting with 0,
//     follows a column of one to three digits ("1 000"). A row that stays
//     ambiguous is rejected.
//   - Header: the first non-blank line is a header when none of its cells
//     reads as a number or a time and some column below it holds numbers
//     or times. In an all-text table it is a header when its cells are
//     distinct and none recurs in its column.
//   - Decimal separator: a comma when cells such as "21,21" appear and no
//     cell uses a decimal point; never in comma-separated files. A cell
//     such as "1,234" alone means a decimal comma only in semicolon-
//     separated files. The other separator may group thousands.
//   - Missing values: empty cells and the Options.Missing texts (by
//     default NA, N/A, NaN, null, none, "-" and "?", ignoring case). Also
//     a sentinel of -200, -999, -9999 or -99999 that appears in the sample
//     in numeric columns, always below their other values (which are
//     non-negative, or spread less than their gap to it), and never inside
//     a column's range: the UCI air quality file marks missing values with
//     -200. The decision holds for the whole file, so a sentinel first
//     seen in another column after the sample is still missing. It is a
//     guess: a column that holds -200 as a real value only after the
//     sample would lose those values, and a sentinel that never appears in
//     the sample is not detected (list it in Options.Missing).
//     Options.KeepSentinels turns detection off.
//   - Times: a column is a time column when 90% of its values in the
//     sample are date-times (2004-03-10 18:00:00, 2004-03-31T03:38:15.75Z,
//     10/03/2004 18.00.00), dates (2004-03-10, 10/03/2004, 10.03.2004), or
//     times of day (18:00:00, 18:00, 18.00.00); or integers between 2000
//     and 2100 read as epoch seconds, milliseconds, microseconds or
//     nanoseconds (the four ranges do not overlap). A date-time column is
//     the time; else a date column with a time-of-day column; else an
//     epoch column; else a date alone, at midnight. Headers such as "time"
//     or "date" break ties. Epochs outside 2000 to 2100 need a map entry
//     such as time=0:unix_ms. Times without an offset are in
//     Options.TimeZone, UTC by default.
//   - Date order: day first if a first number above 12 appears, month
//     first if a second one does, otherwise day first, with a note. Two-
//     digit years are not read.
//   - Source: a column headed id, node, nodeid, moteid, sensor, device,
//     station or source (and the like). In a file without a header, the
//     leftmost integer column, other than the time, in which values
//     repeat, as node ids do in a log of many nodes. Otherwise the file's
//     base name without extension is the source id of every reading.
//   - Location: columns headed lat and lon, or x and y, as numeric pairs.
//   - Every other column is a field named by its header cell, or colN for
//     column N (from 0) without a header. A field is numeric when 90% of
//     its sample values are numbers, and a later cell that is not a number
//     rejects its row. Otherwise it is text. A column with an empty header
//     and no values in the sample is ignored.
//
// A Layout prints as the column map it amounts to (Layout.Map), so a
// wrong guess can be fixed by passing a corrected map back in Options.Map.
package importer
