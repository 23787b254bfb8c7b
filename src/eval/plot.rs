//! PNG charts of evaluation and training results: confusion matrix heat maps, training curves
//! and prediction histograms.
//!
//! Everything is drawn on the CPU into an RGB image, so neither a GPU nor system fonts are
//! needed. Text uses DejaVu Sans, compiled into the binary from the `dejavu` crate and
//! rasterized with `ab_glyph`. Each writer encodes the whole PNG in memory, writes it to
//! `<path>.tmp` and renames that file onto `path`, so a reader never sees a half-written file.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::{ImageFormat, Rgb, RgbImage};

/// Errors of the chart writers. Every message names the output path.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot plot {}: {message}", path.display())]
    InvalidInput { path: PathBuf, message: String },
    #[error("failed to encode the PNG for {}: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("failed to write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Per-epoch figures of one training run, one entry per epoch in every slice. It mirrors
/// `train::output::EpochRecord`: losses are mean cross-entropy and accuracies are fractions in
/// [0, 1]. Validation figures are `None` for epochs without a validation pass.
#[derive(Clone, Copy, Debug)]
pub struct HistorySeries<'a> {
    /// Epoch numbers, strictly increasing (the training code counts from 1).
    pub epochs: &'a [usize],
    pub loss: &'a [f64],
    pub accuracy: &'a [f64],
    pub val_loss: &'a [Option<f64>],
    pub val_accuracy: &'a [Option<f64>],
}

/// Writes a confusion matrix heat map to `path` and returns the image (width, height) in pixels.
///
/// `matrix[t][p]` counts the images of true class `t` predicted as class `p`, so rows are true
/// classes and columns predicted classes. Colours follow viridis (dark purple for 0, yellow for
/// the maximum) with a colour bar at the right. With 20 classes or fewer each cell also shows
/// its count. Class names label both axes when the cells are tall enough (names wider than
/// 180 pixels are cut short with "…"). Otherwise every few class indices label them and the
/// title notes the fallback. With `zero_diagonal` the diagonal cells are drawn in a neutral grey without counts and
/// the colours scale to the largest off-diagonal count, which shows the structure of the errors.
/// [`confusion_cell_center`] locates cells in the written picture.
pub fn write_confusion_png(
    path: &Path,
    matrix: &[Vec<u64>],
    class_names: &[String],
    zero_diagonal: bool,
    title: &str,
) -> Result<(u32, u32), PlotError> {
    validate_confusion(matrix, class_names).map_err(|message| invalid_input(path, message))?;
    let layout = ConfusionLayout::new(class_names);
    let image = draw_confusion(&layout, matrix, zero_diagonal, title);
    write_png_atomically(path, &image)
}

/// Returns the pixel at the centre of cell (`row`, `column`) of the picture that
/// [`write_confusion_png`] draws for `class_names`. The layout depends only on the number of
/// classes and the widths of their names, never on the counts, the title or `zero_diagonal`.
///
/// # Panics
/// If `row` or `column` is not below `class_names.len()`.
pub fn confusion_cell_center(class_names: &[String], row: usize, column: usize) -> (u32, u32) {
    let classes = class_names.len();
    assert!(
        row < classes && column < classes,
        "cell ({row}, {column}) is outside a confusion matrix of {classes} classes"
    );
    ConfusionLayout::new(class_names).cell_center(row, column)
}

/// Writes training curves to `path` and returns the image (width, height) in pixels.
///
/// Two panels side by side show the loss and the accuracy (in percent) per epoch, training as
/// solid blue lines and validation as dashed orange lines, with a legend under the title.
/// Points are marked when there are at most 40 epochs, and a point without a line to a
/// neighbour always gets a marker, so a single epoch shows as one point per series. The
/// validation line joins its points across epochs without a validation pass. Non-finite values
/// (a diverged run) are left out and break the line, and the panel title counts them.
pub fn write_history_png(
    path: &Path,
    series: &HistorySeries<'_>,
    title: &str,
) -> Result<(u32, u32), PlotError> {
    validate_history(series).map_err(|message| invalid_input(path, message))?;
    let image = draw_history(series, title);
    write_png_atomically(path, &image)
}

/// Writes a prediction histogram to `path` and returns the image (width, height) in pixels.
///
/// Each class, in index order, gets a bar of how often it was predicted and a black marker line
/// at how often it occurs (`actual`). Bars and labels of the classes in `highlighted`, for
/// example the few classes a collapsed model predicts for everything, are drawn in a warning
/// colour. Class names label the x axis under the same rule as [`write_confusion_png`].
pub fn write_prediction_histogram_png(
    path: &Path,
    predicted: &[u64],
    actual: &[u64],
    class_names: &[String],
    highlighted: &[usize],
    title: &str,
) -> Result<(u32, u32), PlotError> {
    validate_histogram(predicted, actual, class_names, highlighted)
        .map_err(|message| invalid_input(path, message))?;
    let image = draw_histogram(predicted, actual, class_names, highlighted, title);
    write_png_atomically(path, &image)
}

fn invalid_input(path: &Path, message: String) -> PlotError {
    PlotError::InvalidInput {
        path: path.to_path_buf(),
        message,
    }
}

fn validate_confusion(matrix: &[Vec<u64>], class_names: &[String]) -> Result<(), String> {
    if matrix.is_empty() {
        return Err("the confusion matrix is empty; expected one row per class".into());
    }
    if matrix.len() != class_names.len() {
        return Err(format!(
            "the confusion matrix has {} rows but class_names has {} entries; \
             expected one row per class",
            matrix.len(),
            class_names.len()
        ));
    }
    for (index, row) in matrix.iter().enumerate() {
        if row.len() != matrix.len() {
            return Err(format!(
                "confusion matrix row {index} has {} columns, expected {} (one per class)",
                row.len(),
                matrix.len()
            ));
        }
    }
    Ok(())
}

fn validate_history(series: &HistorySeries<'_>) -> Result<(), String> {
    let epochs = series.epochs.len();
    if epochs == 0 {
        return Err("the history is empty; expected at least one epoch".into());
    }
    let lengths = [
        ("loss", series.loss.len()),
        ("accuracy", series.accuracy.len()),
        ("val_loss", series.val_loss.len()),
        ("val_accuracy", series.val_accuracy.len()),
    ];
    for (name, length) in lengths {
        if length != epochs {
            return Err(format!(
                "{name} has {length} values but epochs has {epochs}; expected one per epoch"
            ));
        }
    }
    for (index, pair) in series.epochs.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(format!(
                "epochs[{}] = {} does not follow epochs[{index}] = {}; \
                 expected strictly increasing epoch numbers",
                index + 1,
                pair[1],
                pair[0]
            ));
        }
    }
    let accuracies = series
        .accuracy
        .iter()
        .map(|&value| ("accuracy", Some(value)));
    let val_accuracies = series
        .val_accuracy
        .iter()
        .map(|&value| ("val_accuracy", value));
    let epoch_of = series.epochs.iter().chain(series.epochs);
    for ((name, value), epoch) in accuracies.chain(val_accuracies).zip(epoch_of) {
        if let Some(value) = value.filter(|value| value.is_finite()) {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "{name} of epoch {epoch} is {value}, outside [0, 1]; \
                     expected a fraction, not a percentage"
                ));
            }
        }
    }
    Ok(())
}

fn validate_histogram(
    predicted: &[u64],
    actual: &[u64],
    class_names: &[String],
    highlighted: &[usize],
) -> Result<(), String> {
    if class_names.is_empty() {
        return Err("class_names is empty; expected one name per class".into());
    }
    let classes = class_names.len();
    for (name, length) in [("predicted", predicted.len()), ("actual", actual.len())] {
        if length != classes {
            return Err(format!(
                "{name} has {length} counts but class_names has {classes} entries; \
                 expected one count per class"
            ));
        }
    }
    if let Some(&class) = highlighted.iter().find(|&&class| class >= classes) {
        return Err(format!(
            "highlighted class {class} is out of range; expected an index below {classes}"
        ));
    }
    Ok(())
}

// Shared geometry, in pixels. Font sizes are `ab_glyph` pixel scales: the height from the
// font's ascent line to its descent line.
const MARGIN: u32 = 16;
const TITLE_SIZE: f32 = 24.0;
const TITLE_BAND: u32 = 44;
const AXIS_TITLE_SIZE: f32 = 17.0;
const AXIS_TITLE_BAND: u32 = 28;
const TICK_SIZE: f32 = 14.0;
const LABEL_GAP: u32 = 6;
const LEGEND_BAND: u32 = 30;

/// Class labels must fit in a row or column this many pixels tall, otherwise indices are used.
const MIN_NAME_PITCH: u32 = 16;
const MAX_NAME_SIZE: f32 = 15.0;
const MAX_LABEL_WIDTH: f32 = 180.0;
/// Largest matrix or bar area side; above it the cells shrink and only some indices are shown.
const MAX_CATEGORY_EXTENT: u32 = 3200;

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const NEUTRAL: Rgb<u8> = Rgb([200, 200, 200]);
// Blue, orange and vermillion of the Okabe-Ito palette, distinguishable with colour blindness.
const TRAINING_COLOR: Rgb<u8> = Rgb([0, 114, 178]);
const VALIDATION_COLOR: Rgb<u8> = Rgb([230, 159, 0]);
const WARNING_COLOR: Rgb<u8> = Rgb([213, 94, 0]);

/// Pixel geometry of a confusion matrix picture, derived from the class names alone.
struct ConfusionLayout {
    classes: usize,
    cell: u32,
    labels: CategoryLabels,
    matrix_left: u32,
    matrix_top: u32,
    height: u32,
}

impl ConfusionLayout {
    fn new(class_names: &[String]) -> Self {
        let classes = class_names.len();
        let cell = (720 / classes as u32).clamp(MIN_NAME_PITCH, 64);
        let cell = if cell * classes as u32 > MAX_CATEGORY_EXTENT {
            (MAX_CATEGORY_EXTENT / classes as u32).max(1)
        } else {
            cell
        };
        let labels = CategoryLabels::new(class_names, cell);
        let matrix_left = MARGIN + AXIS_TITLE_BAND + labels.max_width.ceil() as u32 + LABEL_GAP;
        let matrix_top = MARGIN + TITLE_BAND;
        let height =
            matrix_top + cell * classes as u32 + labels.band_height() + AXIS_TITLE_BAND + MARGIN;
        Self {
            classes,
            cell,
            labels,
            matrix_left,
            matrix_top,
            height,
        }
    }

    fn matrix_size(&self) -> u32 {
        self.cell * self.classes as u32
    }

    fn cell_origin(&self, row: usize, column: usize) -> (u32, u32) {
        (
            self.matrix_left + column as u32 * self.cell,
            self.matrix_top + row as u32 * self.cell,
        )
    }

    fn cell_center(&self, row: usize, column: usize) -> (u32, u32) {
        let (left, top) = self.cell_origin(row, column);
        (left + self.cell / 2, top + self.cell / 2)
    }
}

fn draw_confusion(
    layout: &ConfusionLayout,
    matrix: &[Vec<u64>],
    zero_diagonal: bool,
    title: &str,
) -> RgbImage {
    let fonts = fonts();
    let classes = layout.classes;
    let scaled_cells = matrix.iter().enumerate().flat_map(|(row, counts)| {
        counts
            .iter()
            .enumerate()
            .filter(move |&(column, _)| !(zero_diagonal && row == column))
            .map(|(_, &count)| count)
    });
    // A matrix of zeros still gets a colour scale, with every cell at its bottom.
    let scale_max = scaled_cells.max().unwrap_or(0).max(1);

    let bar = ColorBar::new(layout, scale_max, zero_diagonal);
    let title = if layout.labels.uses_names {
        title.to_string()
    } else {
        format!("{title} (class indices: names do not fit)")
    };
    let title_style = TextStyle::new(&fonts.bold, TITLE_SIZE, INK);
    let width =
        (bar.right_edge() + MARGIN).max(2 * MARGIN + title_style.width(&title).ceil() as u32);
    let mut canvas = Canvas::new(width, layout.height);

    canvas.text(
        &title_style,
        &title,
        (width as f32 / 2.0, MARGIN as f32),
        Along::Center,
        Across::Top,
        Direction::Right,
    );

    // Cells, separated by one background pixel when they are large enough to afford it.
    let gap = u32::from(layout.cell >= 8);
    let count_size = (layout.cell as f32 * 0.3).min(15.0);
    for (row, counts) in matrix.iter().enumerate() {
        for (column, &count) in counts.iter().enumerate() {
            let (left, top) = layout.cell_origin(row, column);
            let right = left + layout.cell;
            let bottom = top + layout.cell;
            if zero_diagonal && row == column {
                canvas.fill_rect(left + gap, top + gap, right, bottom, NEUTRAL);
                continue;
            }
            let color = viridis(count as f64 / scale_max as f64);
            canvas.fill_rect(left + gap, top + gap, right, bottom, color);
            if classes <= 20 {
                let center = layout.cell_center(row, column);
                let text_color = if luminance(color) > 140.0 {
                    INK
                } else {
                    BACKGROUND
                };
                let available = (layout.cell - gap) as f32 - 4.0;
                canvas.fitted_text(
                    &fonts.regular,
                    count_size,
                    text_color,
                    &count.to_string(),
                    center,
                    available,
                );
            }
        }
    }

    // Row labels right-aligned left of the matrix, column labels below it.
    let label_style = TextStyle::new(&fonts.regular, layout.labels.font_size, INK);
    for (class, label) in layout.labels.iter() {
        let (_, center_y) = layout.cell_center(class, 0);
        canvas.text(
            &label_style,
            label,
            ((layout.matrix_left - LABEL_GAP) as f32, center_y as f32),
            Along::End,
            Across::Middle,
            Direction::Right,
        );
    }
    let matrix_bottom = layout.matrix_top + layout.matrix_size();
    layout.labels.draw_below(
        &mut canvas,
        &label_style,
        matrix_bottom + LABEL_GAP,
        |class| layout.cell_center(0, class).0 as f32,
        |_| INK,
    );

    // Axis titles.
    let axis_style = TextStyle::new(&fonts.regular, AXIS_TITLE_SIZE, INK);
    let matrix_middle = |start: u32| start as f32 + layout.matrix_size() as f32 / 2.0;
    canvas.text(
        &axis_style,
        "true class",
        (MARGIN as f32, matrix_middle(layout.matrix_top)),
        Along::Center,
        Across::Top,
        Direction::Up,
    );
    let axis_top = matrix_bottom + layout.labels.band_height();
    canvas.text(
        &axis_style,
        "predicted class",
        (matrix_middle(layout.matrix_left), axis_top as f32),
        Along::Center,
        Across::Top,
        Direction::Right,
    );

    bar.draw(&mut canvas);
    canvas.image
}

/// Colour scale right of a confusion matrix: a vertical viridis strip from 0 at the bottom to
/// `scale_max` at the top, with count ticks, a title and, when the diagonal is excluded, a grey
/// swatch that explains the diagonal colour.
struct ColorBar {
    left: u32,
    top: u32,
    bottom: u32,
    scale_max: u64,
    ticks: Vec<u64>,
    tick_width: f32,
    title: &'static str,
    /// Explanation next to the grey swatch, only with `zero_diagonal`.
    note: Option<&'static str>,
}

const COLOR_BAR_WIDTH: u32 = 20;

impl ColorBar {
    /// Places the bar 28 pixels right of the matrix, level with its top, between 120 and 480
    /// pixels tall.
    fn new(layout: &ConfusionLayout, scale_max: u64, zero_diagonal: bool) -> Self {
        let top = layout.matrix_top;
        let tick_step = nice_step(scale_max as f64, 6).max(1.0) as u64;
        let ticks: Vec<u64> = (0..=scale_max / tick_step).map(|k| k * tick_step).collect();
        let tick_style = TextStyle::new(&fonts().regular, TICK_SIZE, INK);
        let tick_width = ticks
            .iter()
            .map(|tick| tick_style.width(&tick.to_string()))
            .fold(0.0, f32::max);
        let (title, note) = if zero_diagonal {
            ("count off the diagonal", Some("diagonal excluded"))
        } else {
            ("count", None)
        };
        Self {
            left: layout.matrix_left + layout.matrix_size() + 28,
            top,
            bottom: top + layout.matrix_size().clamp(120, 480),
            scale_max,
            ticks,
            tick_width,
            title,
            note,
        }
    }

    fn right(&self) -> u32 {
        self.left + COLOR_BAR_WIDTH
    }

    fn title_left(&self) -> u32 {
        self.right() + 8 + self.tick_width.ceil() as u32 + 10
    }

    /// Right end of everything the bar draws.
    fn right_edge(&self) -> u32 {
        let tick_style = TextStyle::new(&fonts().regular, TICK_SIZE, INK);
        let note_width = self.note.map_or(0.0, |note| 26.0 + tick_style.width(note));
        (self.title_left() + AXIS_TITLE_BAND).max(self.left + note_width.ceil() as u32)
    }

    fn draw(&self, canvas: &mut Canvas) {
        let fonts = fonts();
        let tick_style = TextStyle::new(&fonts.regular, TICK_SIZE, INK);
        let (left, right) = (self.left, self.right());

        // One colour per pixel row.
        let height = (self.bottom - self.top) as f32;
        for y in self.top..self.bottom {
            let fraction = (self.bottom - 1 - y) as f32 / (height - 1.0);
            canvas.fill_rect(left, y, right, y + 1, viridis(fraction as f64));
        }

        for &tick in &self.ticks {
            let fraction = tick as f32 / self.scale_max as f32;
            let y = self.bottom as f32 - 0.5 - fraction * (height - 1.0);
            let y_pixel = y.floor() as u32;
            canvas.fill_rect(right, y_pixel, right + 5, y_pixel + 1, INK);
            canvas.text(
                &tick_style,
                &tick.to_string(),
                ((right + 8) as f32, y),
                Along::Start,
                Across::Middle,
                Direction::Right,
            );
        }
        canvas.text(
            &TextStyle::new(&fonts.regular, AXIS_TITLE_SIZE, INK),
            self.title,
            (
                self.title_left() as f32,
                (self.top + self.bottom) as f32 / 2.0,
            ),
            Along::Center,
            Across::Top,
            Direction::Up,
        );

        if let Some(note) = self.note {
            let note_top = self.bottom + 14;
            canvas.fill_rect(left, note_top, right, note_top + 16, NEUTRAL);
            canvas.text(
                &tick_style,
                note,
                ((right + 6) as f32, note_top as f32 + 8.0),
                Along::Start,
                Across::Middle,
                Direction::Right,
            );
        }
    }
}

/// Class labels along one categorical axis whose classes are `pitch` pixels apart.
struct CategoryLabels {
    /// Label text of each class; `None` for classes left unlabelled.
    texts: Vec<Option<String>>,
    uses_names: bool,
    font_size: f32,
    /// Width of the widest label in pixels.
    max_width: f32,
    /// Whether labels along a horizontal axis read upwards because they are wider than a column.
    rotated: bool,
}

impl CategoryLabels {
    /// Labels every class by name when the pitch allows a readable font, otherwise labels every
    /// `stride`-th class by index, with the stride chosen so indices do not overlap.
    fn new(class_names: &[String], pitch: u32) -> Self {
        let regular = &fonts().regular;
        let (texts, uses_names, font_size, stride) = if pitch >= MIN_NAME_PITCH {
            let size = (pitch as f32 - 2.0).min(MAX_NAME_SIZE);
            let style = TextStyle::new(regular, size, INK);
            let texts: Vec<Option<String>> = class_names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let name = if name.is_empty() {
                        index.to_string()
                    } else {
                        name.clone()
                    };
                    Some(style.shorten(&name, MAX_LABEL_WIDTH))
                })
                .collect();
            (texts, true, size, 1)
        } else {
            let stride = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
                .into_iter()
                .find(|&stride| stride * pitch >= MIN_NAME_PITCH)
                .unwrap_or(class_names.len() as u32) as usize;
            let texts = (0..class_names.len())
                .map(|index| (index % stride == 0).then(|| index.to_string()))
                .collect();
            (texts, false, 12.0, stride)
        };
        let style = TextStyle::new(regular, font_size, INK);
        let max_width = texts
            .iter()
            .flatten()
            .map(|text| style.width(text))
            .fold(0.0, f32::max);
        let rotated = max_width > (pitch as usize * stride) as f32 - 6.0;
        Self {
            texts,
            uses_names,
            font_size,
            max_width,
            rotated,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        let labelled = self.texts.iter().enumerate();
        labelled.filter_map(|(class, text)| text.as_deref().map(|text| (class, text)))
    }

    /// Height of the band the labels need under a horizontal axis, gap included.
    fn band_height(&self) -> u32 {
        let extent = if self.rotated {
            self.max_width
        } else {
            self.font_size * 1.2
        };
        extent.ceil() as u32 + 2 * LABEL_GAP
    }

    /// Draws the labels under a horizontal axis, starting at `top`, centred on `center_x(class)`.
    fn draw_below(
        &self,
        canvas: &mut Canvas,
        style: &TextStyle<'_>,
        top: u32,
        center_x: impl Fn(usize) -> f32,
        color: impl Fn(usize) -> Rgb<u8>,
    ) {
        for (class, label) in self.iter() {
            let style = TextStyle {
                color: color(class),
                ..*style
            };
            let (along, across, direction) = if self.rotated {
                (Along::End, Across::Middle, Direction::Up)
            } else {
                (Along::Center, Across::Top, Direction::Right)
            };
            canvas.text(
                &style,
                label,
                (center_x(class), top as f32),
                along,
                across,
                direction,
            );
        }
    }
}

fn draw_histogram(
    predicted: &[u64],
    actual: &[u64],
    class_names: &[String],
    highlighted: &[usize],
    title: &str,
) -> RgbImage {
    let fonts = fonts();
    let classes = class_names.len();
    let slot = (900 / classes as u32).clamp(MIN_NAME_PITCH, 84);
    let slot = if slot * classes as u32 > MAX_CATEGORY_EXTENT {
        (MAX_CATEGORY_EXTENT / classes as u32).max(1)
    } else {
        slot
    };
    let labels = CategoryLabels::new(class_names, slot);
    let is_highlighted = |class: usize| highlighted.contains(&class);

    // The y axis runs from 0 to the first tick at or above the largest count.
    let max_count = predicted
        .iter()
        .chain(actual)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let tick_step = nice_step(max_count as f64, 6).max(1.0) as u64;
    let axis_max = max_count.div_ceil(tick_step) * tick_step;
    let tick_style = TextStyle::new(&fonts.regular, TICK_SIZE, INK);
    let tick_width = (0..=axis_max / tick_step)
        .map(|k| tick_style.width(&(k * tick_step).to_string()))
        .fold(0.0, f32::max);

    let plot_left = MARGIN + AXIS_TITLE_BAND + tick_width.ceil() as u32 + 10;
    let plot_top = MARGIN + TITLE_BAND + LEGEND_BAND;
    let plot_width = slot * classes as u32;
    let plot_height = 360;
    let plot_bottom = plot_top + plot_height;
    let title = if labels.uses_names {
        title.to_string()
    } else {
        format!("{title} (class indices: names do not fit)")
    };
    let title_style = TextStyle::new(&fonts.bold, TITLE_SIZE, INK);
    let mut legend: Vec<(LegendMark, &str)> =
        vec![(LegendMark::Swatch(TRAINING_COLOR), "predicted")];
    if !highlighted.is_empty() {
        legend.push((
            LegendMark::Swatch(WARNING_COLOR),
            "predicted, highlighted class",
        ));
    }
    legend.push((LegendMark::Rule, "true count"));
    let legend_width = legend_width(&tick_style, &legend);
    let width = (plot_left + plot_width + MARGIN)
        .max(2 * MARGIN + title_style.width(&title).ceil() as u32)
        .max(plot_left + legend_width.ceil() as u32 + MARGIN);
    let height = plot_bottom + labels.band_height() + AXIS_TITLE_BAND + MARGIN;
    let mut canvas = Canvas::new(width, height);

    canvas.text(
        &title_style,
        &title,
        (width as f32 / 2.0, MARGIN as f32),
        Along::Center,
        Across::Top,
        Direction::Right,
    );
    let legend_middle = (MARGIN + TITLE_BAND + LEGEND_BAND / 2 - 4) as f32;
    canvas.legend(&tick_style, &legend, (plot_left as f32, legend_middle));

    // Grid lines and y tick labels.
    let y_of =
        |count: u64| plot_bottom as f32 - count as f32 / axis_max as f32 * plot_height as f32;
    for k in 0..=axis_max / tick_step {
        let count = k * tick_step;
        let y = y_of(count).round() as u32;
        let color = if count == 0 { INK } else { GRID };
        canvas.fill_rect(
            plot_left,
            y.min(plot_bottom - 1),
            plot_left + plot_width,
            y.min(plot_bottom - 1) + 1,
            color,
        );
        canvas.text(
            &tick_style,
            &count.to_string(),
            ((plot_left - 8) as f32, y as f32),
            Along::End,
            Across::Middle,
            Direction::Right,
        );
    }

    // Bars of predicted counts, then true-count markers on top of them.
    let bar_width = ((slot as f32 * 0.7).round() as u32).max(1);
    let slot_left = |class: usize| plot_left + class as u32 * slot;
    for (class, &count) in predicted.iter().enumerate() {
        let color = if is_highlighted(class) {
            WARNING_COLOR
        } else {
            TRAINING_COLOR
        };
        let left = slot_left(class) + (slot - bar_width) / 2;
        let top = y_of(count).round() as u32;
        canvas.fill_rect(
            left,
            top.min(plot_bottom),
            left + bar_width,
            plot_bottom,
            color,
        );
    }
    let marker_inset = u32::from(slot >= 4);
    for (class, &count) in actual.iter().enumerate() {
        let y = (y_of(count).round() as u32).clamp(plot_top + 1, plot_bottom);
        let left = slot_left(class) + marker_inset;
        let right = slot_left(class) + slot - marker_inset;
        canvas.fill_rect(left, y - 1, right, y + 1, INK);
    }

    // Axis labels, in the warning colour for highlighted classes.
    let label_style = TextStyle::new(&fonts.regular, labels.font_size, INK);
    let label_top = plot_bottom + LABEL_GAP;
    let center_x = |class: usize| slot_left(class) as f32 + slot as f32 / 2.0;
    labels.draw_below(&mut canvas, &label_style, label_top, center_x, |class| {
        if is_highlighted(class) {
            WARNING_COLOR
        } else {
            INK
        }
    });
    let axis_style = TextStyle::new(&fonts.regular, AXIS_TITLE_SIZE, INK);
    canvas.text(
        &axis_style,
        "images",
        (MARGIN as f32, (plot_top + plot_bottom) as f32 / 2.0),
        Along::Center,
        Across::Top,
        Direction::Up,
    );
    canvas.text(
        &axis_style,
        "class",
        (
            plot_left as f32 + plot_width as f32 / 2.0,
            (plot_bottom + labels.band_height()) as f32,
        ),
        Along::Center,
        Across::Top,
        Direction::Right,
    );
    canvas.image
}

const HISTORY_WIDTH: u32 = 1200;
const HISTORY_HEIGHT: u32 = 540;
/// Epoch counts up to which every point gets a marker.
const MAX_MARKED_EPOCHS: usize = 40;

/// One value of a training curve.
#[derive(Clone, Copy)]
enum Sample {
    Value(f64),
    /// No figure for this epoch, such as an epoch without a validation pass. The line joins
    /// the values on either side.
    Absent,
    /// NaN or infinity. The line breaks here.
    NonFinite,
}

impl Sample {
    fn new(value: Option<f64>, scale: f64) -> Self {
        match value {
            Some(value) if value.is_finite() => Self::Value(value * scale),
            Some(_) => Self::NonFinite,
            None => Self::Absent,
        }
    }

    fn value(self) -> Option<f64> {
        match self {
            Self::Value(value) => Some(value),
            Self::Absent | Self::NonFinite => None,
        }
    }
}

/// One panel of the training curves: a sample per epoch for training and for validation.
struct CurvePanel {
    title: &'static str,
    training: Vec<Sample>,
    validation: Vec<Sample>,
    /// Range the y axis may not leave, such as 0..100 for percentages.
    limits: (f64, f64),
}

impl CurvePanel {
    /// Multiplies every value by `scale`, for example 100 to show fractions as percentages.
    fn new(
        title: &'static str,
        training: &[f64],
        validation: &[Option<f64>],
        scale: f64,
        limits: (f64, f64),
    ) -> Self {
        Self {
            title,
            training: training
                .iter()
                .map(|&value| Sample::new(Some(value), scale))
                .collect(),
            validation: validation
                .iter()
                .map(|&value| Sample::new(value, scale))
                .collect(),
            limits,
        }
    }

    fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        self.training.iter().chain(&self.validation).copied()
    }

    fn non_finite_count(&self) -> usize {
        let is_non_finite = |sample: &Sample| matches!(sample, Sample::NonFinite);
        self.samples().filter(is_non_finite).count()
    }
}

fn draw_history(series: &HistorySeries<'_>, title: &str) -> RgbImage {
    let fonts = fonts();
    let mut canvas = Canvas::new(HISTORY_WIDTH, HISTORY_HEIGHT);
    let title_style = TextStyle::new(&fonts.bold, TITLE_SIZE, INK);
    let title = title_style.shorten(title, (HISTORY_WIDTH - 2 * MARGIN) as f32);
    canvas.text(
        &title_style,
        &title,
        (HISTORY_WIDTH as f32 / 2.0, MARGIN as f32),
        Along::Center,
        Across::Top,
        Direction::Right,
    );

    let has_validation = series
        .val_loss
        .iter()
        .chain(series.val_accuracy)
        .any(Option::is_some);
    let mut legend = vec![(LegendMark::Line(TRAINING_COLOR, false), "training")];
    if has_validation {
        legend.push((LegendMark::Line(VALIDATION_COLOR, true), "validation"));
    }
    let tick_style = TextStyle::new(&fonts.regular, TICK_SIZE, INK);
    let legend_left = (HISTORY_WIDTH as f32 - legend_width(&tick_style, &legend)) / 2.0;
    let legend_middle = (MARGIN + TITLE_BAND + LEGEND_BAND / 2 - 4) as f32;
    canvas.legend(&tick_style, &legend, (legend_left, legend_middle));

    let panels = [
        CurvePanel::new(
            "loss",
            series.loss,
            series.val_loss,
            1.0,
            (0.0, f64::INFINITY),
        ),
        CurvePanel::new(
            "accuracy (%)",
            series.accuracy,
            series.val_accuracy,
            100.0,
            (0.0, 100.0),
        ),
    ];
    let panel_width = HISTORY_WIDTH / 2;
    let panel_top = MARGIN + TITLE_BAND + LEGEND_BAND;
    for (index, panel) in panels.iter().enumerate() {
        let left = index as u32 * panel_width;
        let area = PlotArea {
            left: left + 80,
            right: left + panel_width - 28,
            top: panel_top + 34,
            bottom: HISTORY_HEIGHT - MARGIN - 52,
        };
        draw_curve_panel(&mut canvas, &area, series.epochs, panel);
    }
    canvas.image
}

/// Plot rectangle in pixels; `right` and `bottom` are exclusive.
struct PlotArea {
    left: u32,
    right: u32,
    top: u32,
    bottom: u32,
}

fn draw_curve_panel(canvas: &mut Canvas, area: &PlotArea, epochs: &[usize], panel: &CurvePanel) {
    let fonts = fonts();
    let non_finite = panel.non_finite_count();
    let panel_title = if non_finite > 0 {
        format!("{} ({non_finite} non-finite values not drawn)", panel.title)
    } else {
        panel.title.to_string()
    };
    canvas.text(
        &TextStyle::new(&fonts.bold, AXIS_TITLE_SIZE, INK),
        &panel_title,
        (area.left as f32, (area.top - 10) as f32),
        Along::Start,
        Across::Bottom,
        Direction::Right,
    );
    let values: Vec<f64> = panel.samples().filter_map(Sample::value).collect();
    let axes = CurveAxes::new(area, epochs, &values, panel.limits);
    axes.draw(canvas, area, epochs);

    // Validation first, so the training line stays on top where they overlap.
    let marked = epochs.len() <= MAX_MARKED_EPOCHS;
    let curves = [
        (&panel.validation, VALIDATION_COLOR, true),
        (&panel.training, TRAINING_COLOR, false),
    ];
    for (samples, color, dashed) in curves {
        let mut run: Vec<(f32, f32)> = Vec::new();
        for (&sample, &epoch) in samples.iter().zip(epochs) {
            match sample {
                Sample::Value(value) => run.push((axes.x_of(epoch as f64), axes.y_of(value))),
                Sample::Absent => {}
                Sample::NonFinite => {
                    draw_curve_run(canvas, &run, color, dashed, marked);
                    run.clear();
                }
            }
        }
        draw_curve_run(canvas, &run, color, dashed, marked);
    }
}

/// Draws one unbroken stretch of a curve. A stretch of one point always gets its marker.
fn draw_curve_run(
    canvas: &mut Canvas,
    points: &[(f32, f32)],
    color: Rgb<u8>,
    dashed: bool,
    marked: bool,
) {
    canvas.polyline(points, 2.2, color, dashed);
    if marked || points.len() == 1 {
        for &point in points {
            canvas.disc(point, 3.5, color);
        }
    }
}

/// Value ranges of a curve panel's axes and their mapping onto the plot area.
struct CurveAxes {
    x_range: (f64, f64),
    y_range: (f64, f64),
    y_step: f64,
    area: (f32, f32, f32, f32),
}

impl CurveAxes {
    /// Pads both ranges by 3% of the span so that points on the extremes stay clear of the frame.
    /// The y range stays within `limits`.
    fn new(area: &PlotArea, epochs: &[usize], values: &[f64], limits: (f64, f64)) -> Self {
        let first = epochs[0] as f64;
        let last = epochs[epochs.len() - 1] as f64;
        let x_range = if first == last {
            (first - 1.0, last + 1.0)
        } else {
            let pad = (last - first) * 0.03;
            (first - pad, last + pad)
        };
        let (mut low, mut high) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &value| {
                (low.min(value), high.max(value))
            });
        if values.is_empty() {
            (low, high) = (0.0, 1.0);
        }
        if high - low < 1e-9 {
            let pad = (low.abs() * 0.1).max(0.5);
            (low, high) = (low - pad, high + pad);
        }
        let pad = (high - low) * 0.03;
        let y_range = ((low - pad).max(limits.0), (high + pad).min(limits.1));
        Self {
            x_range,
            y_range,
            y_step: nice_step(high - low, 6),
            area: (
                area.left as f32,
                area.right as f32,
                area.top as f32,
                area.bottom as f32,
            ),
        }
    }

    fn x_of(&self, epoch: f64) -> f32 {
        let (low, high) = self.x_range;
        let (left, right, _, _) = self.area;
        left + ((epoch - low) / (high - low)) as f32 * (right - left)
    }

    fn y_of(&self, value: f64) -> f32 {
        let (low, high) = self.y_range;
        let (_, _, top, bottom) = self.area;
        bottom - ((value - low) / (high - low)) as f32 * (bottom - top)
    }

    /// Draws grid lines, tick labels, the frame and the "epoch" axis title. Epoch ticks are
    /// whole numbers between the first and the last epoch.
    fn draw(&self, canvas: &mut Canvas, area: &PlotArea, epochs: &[usize]) {
        let fonts = fonts();
        let tick_style = TextStyle::new(&fonts.regular, TICK_SIZE, INK);
        let decimals = (-self.y_step.log10()).ceil().max(0.0) as usize;
        let first_tick = (self.y_range.0 / self.y_step).ceil() as i64;
        let last_tick = (self.y_range.1 / self.y_step).floor() as i64;
        for k in first_tick..=last_tick {
            let value = k as f64 * self.y_step;
            let y = self.y_of(value).round() as u32;
            canvas.fill_rect(area.left, y, area.right, y + 1, GRID);
            canvas.text(
                &tick_style,
                &format!("{value:.decimals$}"),
                ((area.left - 8) as f32, y as f32),
                Along::End,
                Across::Middle,
                Direction::Right,
            );
        }

        let (first, last) = (epochs[0], epochs[epochs.len() - 1]);
        let epoch_step = (nice_step((last - first) as f64, 8).max(1.0)) as usize;
        let ticks = (first.div_ceil(epoch_step) * epoch_step..=last).step_by(epoch_step);
        for epoch in ticks {
            let x = self.x_of(epoch as f64).round() as u32;
            canvas.fill_rect(x, area.top, x + 1, area.bottom, GRID);
            canvas.fill_rect(x, area.bottom, x + 1, area.bottom + 5, INK);
            canvas.text(
                &tick_style,
                &epoch.to_string(),
                (x as f32 + 0.5, (area.bottom + 8) as f32),
                Along::Center,
                Across::Top,
                Direction::Right,
            );
        }
        canvas.frame(area.left, area.top, area.right, area.bottom, INK);
        canvas.text(
            &TextStyle::new(&fonts.regular, AXIS_TITLE_SIZE, INK),
            "epoch",
            (
                (area.left + area.right) as f32 / 2.0,
                (area.bottom + 30) as f32,
            ),
            Along::Center,
            Across::Top,
            Direction::Right,
        );
    }
}

/// Symbol drawn before a legend entry.
#[derive(Clone, Copy)]
enum LegendMark {
    Swatch(Rgb<u8>),
    /// A line sample, dashed when the flag is set.
    Line(Rgb<u8>, bool),
    /// A short black bar like the true-count marker of the histogram.
    Rule,
}

const LEGEND_MARK_WIDTH: f32 = 28.0;
const LEGEND_SPACING: f32 = 24.0;

fn legend_width(style: &TextStyle<'_>, entries: &[(LegendMark, &str)]) -> f32 {
    let texts: f32 = entries.iter().map(|(_, text)| style.width(text)).sum();
    texts + entries.len() as f32 * (LEGEND_MARK_WIDTH + 6.0 + LEGEND_SPACING) - LEGEND_SPACING
}

/// Maps `fraction` in [0, 1] to the viridis colour map (dark purple to yellow), interpolating
/// linearly between ten evenly spaced samples of the map.
fn viridis(fraction: f64) -> Rgb<u8> {
    const SAMPLES: [[u8; 3]; 10] = [
        [0x44, 0x01, 0x54],
        [0x48, 0x28, 0x78],
        [0x3e, 0x49, 0x89],
        [0x31, 0x68, 0x8e],
        [0x26, 0x82, 0x8e],
        [0x1f, 0x9e, 0x89],
        [0x35, 0xb7, 0x79],
        [0x6e, 0xce, 0x58],
        [0xb5, 0xde, 0x2b],
        [0xfd, 0xe7, 0x25],
    ];
    let position = fraction.clamp(0.0, 1.0) * (SAMPLES.len() - 1) as f64;
    let index = (position.floor() as usize).min(SAMPLES.len() - 2);
    let weight = position - index as f64;
    let channel = |c: usize| {
        let low = SAMPLES[index][c] as f64;
        let high = SAMPLES[index + 1][c] as f64;
        (low + (high - low) * weight).round() as u8
    };
    Rgb([channel(0), channel(1), channel(2)])
}

/// Approximate perceived brightness in 0..255 (Rec. 709 weights on sRGB values).
fn luminance(color: Rgb<u8>) -> f32 {
    let [r, g, b] = color.0.map(f32::from);
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// Returns a step of 1, 2 or 5 times a power of ten that divides `span` into about `target`
/// intervals.
fn nice_step(span: f64, target: usize) -> f64 {
    if span.is_nan() || span <= 0.0 || span.is_infinite() {
        return 1.0;
    }
    let raw = span / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalized = raw / magnitude;
    let factor = if normalized <= 1.0 {
        1.0
    } else if normalized <= 2.0 {
        2.0
    } else if normalized <= 5.0 {
        5.0
    } else {
        10.0
    };
    factor * magnitude
}

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// Returns the embedded DejaVu Sans faces, parsed once.
fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        // The bytes are the font files shipped inside the `dejavu` crate, so a parse failure
        // means a broken build, not a runtime condition.
        let parse = |bytes| FontRef::try_from_slice(bytes).expect("embedded DejaVu font parses");
        Fonts {
            regular: parse(dejavu::sans::regular()),
            bold: parse(dejavu::sans::bold()),
        }
    })
}

#[derive(Clone, Copy)]
struct TextStyle<'f> {
    font: &'f FontRef<'static>,
    size: f32,
    color: Rgb<u8>,
}

impl<'f> TextStyle<'f> {
    fn new(font: &'f FontRef<'static>, size: f32, color: Rgb<u8>) -> Self {
        Self { font, size, color }
    }

    /// Advance width of `text` in pixels, kerning included.
    fn width(&self, text: &str) -> f32 {
        let font = self.font.as_scaled(PxScale::from(self.size));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let glyph = font.glyph_id(c);
            if let Some(previous) = previous {
                width += font.kern(previous, glyph);
            }
            width += font.h_advance(glyph);
            previous = Some(glyph);
        }
        width
    }

    /// Cuts `text` short with "…" so that it is at most `max_width` pixels wide.
    fn shorten(&self, text: &str, max_width: f32) -> String {
        if self.width(text) <= max_width {
            return text.to_string();
        }
        let mut prefix: Vec<char> = text.chars().collect();
        while !prefix.is_empty() {
            prefix.pop();
            let candidate: String = prefix.iter().chain(['…'].iter()).collect();
            if self.width(&candidate) <= max_width {
                return candidate;
            }
        }
        "…".to_string()
    }

    /// Rasterizes `text` into a coverage mask with the baseline `ascent` pixels below its top.
    fn rasterize(&self, text: &str) -> TextMask {
        let scale = PxScale::from(self.size);
        let font = self.font.as_scaled(scale);
        let ascent = font.ascent();
        let width = self.width(text).ceil() as usize + 2;
        let height = (ascent - font.descent()).ceil() as usize + 2;
        let mut coverage = vec![0f32; width * height];
        let mut caret = 1.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                caret += font.kern(previous, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, point(caret, 1.0 + ascent));
            caret += font.h_advance(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|x, y, value| {
                let x = bounds.min.x as i64 + x as i64;
                let y = bounds.min.y as i64 + y as i64;
                if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                    let cell = &mut coverage[y as usize * width + x as usize];
                    *cell = (*cell + value).min(1.0);
                }
            });
        }
        TextMask {
            width,
            height,
            ascent: 1.0 + ascent,
            coverage,
        }
    }
}

/// Glyph coverage (0 to 1) of one line of text, row by row.
struct TextMask {
    width: usize,
    height: usize,
    /// Distance from the mask's top to the baseline in pixels.
    ascent: f32,
    coverage: Vec<f32>,
}

/// Point along the text direction that the anchor marks.
#[derive(Clone, Copy)]
enum Along {
    Start,
    Center,
    End,
}

/// Point across the text direction that the anchor marks: the top of the ascent, the visual
/// middle of lowercase and capital letters, or the bottom of the descent.
#[derive(Clone, Copy)]
enum Across {
    Top,
    Middle,
    Bottom,
}

#[derive(Clone, Copy)]
enum Direction {
    /// Ordinary left-to-right text.
    Right,
    /// Rotated a quarter turn anticlockwise, reading from bottom to top.
    Up,
}

/// An RGB image with anti-aliased drawing primitives.
struct Canvas {
    image: RgbImage,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Self {
            image: RgbImage::from_pixel(width, height, BACKGROUND),
        }
    }

    /// Mixes `color` into pixel (`x`, `y`) with weight `alpha`; pixels outside are ignored.
    fn blend(&mut self, x: i64, y: i64, color: Rgb<u8>, alpha: f32) {
        if x < 0 || y < 0 || x >= self.image.width() as i64 || y >= self.image.height() as i64 {
            return;
        }
        let alpha = alpha.clamp(0.0, 1.0);
        let pixel = self.image.get_pixel_mut(x as u32, y as u32);
        for (channel, &target) in pixel.0.iter_mut().zip(&color.0) {
            let mixed = *channel as f32 * (1.0 - alpha) + target as f32 * alpha;
            *channel = mixed.round() as u8;
        }
    }

    /// Fills the pixels with `left <= x < right` and `top <= y < bottom`.
    fn fill_rect(&mut self, left: u32, top: u32, right: u32, bottom: u32, color: Rgb<u8>) {
        for y in top..bottom.min(self.image.height()) {
            for x in left..right.min(self.image.width()) {
                self.image.put_pixel(x, y, color);
            }
        }
    }

    /// Draws the one-pixel outline of the rectangle `left <= x < right`, `top <= y < bottom`.
    fn frame(&mut self, left: u32, top: u32, right: u32, bottom: u32, color: Rgb<u8>) {
        self.fill_rect(left, top, right, top + 1, color);
        self.fill_rect(left, bottom - 1, right, bottom, color);
        self.fill_rect(left, top, left + 1, bottom, color);
        self.fill_rect(right - 1, top, right, bottom, color);
    }

    /// Draws `text` so that the point picked by `along` and `across` lands on `at`. The anchor
    /// is rounded to whole pixels so glyphs keep their rasterized sharpness.
    fn text(
        &mut self,
        style: &TextStyle<'_>,
        text: &str,
        at: (f32, f32),
        along: Along,
        across: Across,
        direction: Direction,
    ) {
        let mask = style.rasterize(text);
        let advance = mask.width as f32 - 2.0;
        let along_offset = match along {
            Along::Start => 0.0,
            Along::Center => advance / 2.0,
            Along::End => advance,
        } + 1.0;
        let across_offset = match across {
            Across::Top => 1.0,
            Across::Middle => mask.ascent - 0.28 * style.size,
            Across::Bottom => mask.height as f32 - 1.0,
        };
        let (x0, y0) = (at.0.round() as i64, at.1.round() as i64);
        let (along_offset, across_offset) =
            (along_offset.round() as i64, across_offset.round() as i64);
        for my in 0..mask.height {
            for mx in 0..mask.width {
                let value = mask.coverage[my * mask.width + mx];
                if value <= 0.0 {
                    continue;
                }
                let (u, v) = (mx as i64 - along_offset, my as i64 - across_offset);
                let (x, y) = match direction {
                    Direction::Right => (x0 + u, y0 + v),
                    Direction::Up => (x0 + v, y0 - u - 1),
                };
                self.blend(x, y, style.color, value);
            }
        }
    }

    /// Draws `text` centred on `center` at `size`, shrinking it down to 7 pixels to fit in
    /// `max_width`. Text that does not fit even then is left out.
    fn fitted_text(
        &mut self,
        font: &FontRef<'static>,
        size: f32,
        color: Rgb<u8>,
        text: &str,
        center: (u32, u32),
        max_width: f32,
    ) {
        let mut style = TextStyle::new(font, size, color);
        while style.width(text) > max_width && style.size > 7.0 {
            style.size -= 1.0;
        }
        if style.width(text) <= max_width {
            let at = (center.0 as f32, center.1 as f32);
            self.text(
                &style,
                text,
                at,
                Along::Center,
                Across::Middle,
                Direction::Right,
            );
        }
    }

    /// Strokes the connected line through `points`, `width` pixels wide, optionally dashed.
    fn polyline(&mut self, points: &[(f32, f32)], width: f32, color: Rgb<u8>, dashed: bool) {
        if points.len() < 2 {
            return;
        }
        let segments = if dashed {
            dash_segments(points, 8.0, 5.0)
        } else {
            points.windows(2).map(|pair| (pair[0], pair[1])).collect()
        };

        // Coverage is collected per pixel first, so joints of segments are not blended twice.
        let reach = width / 2.0 + 1.0;
        let min_x = points.iter().map(|p| p.0).fold(f32::INFINITY, f32::min) - reach;
        let min_y = points.iter().map(|p| p.1).fold(f32::INFINITY, f32::min) - reach;
        let max_x = points.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max) + reach;
        let max_y = points.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max) + reach;
        let (left, top) = (min_x.floor() as i64, min_y.floor() as i64);
        let columns = (max_x.ceil() as i64 - left + 1) as usize;
        let rows = (max_y.ceil() as i64 - top + 1) as usize;
        let mut coverage = vec![0f32; columns * rows];

        for (start, end) in segments {
            let x_range = (start.0.min(end.0) - reach).floor() as i64
                ..=(start.0.max(end.0) + reach).ceil() as i64;
            for x in x_range {
                let y_range = (start.1.min(end.1) - reach).floor() as i64
                    ..=(start.1.max(end.1) + reach).ceil() as i64;
                for y in y_range {
                    let center = (x as f32 + 0.5, y as f32 + 0.5);
                    let distance = distance_to_segment(center, start, end);
                    let value = (width / 2.0 + 0.5 - distance).clamp(0.0, 1.0);
                    let cell = &mut coverage[(y - top) as usize * columns + (x - left) as usize];
                    *cell = cell.max(value);
                }
            }
        }

        for row in 0..rows {
            for column in 0..columns {
                let value = coverage[row * columns + column];
                if value > 0.0 {
                    self.blend(left + column as i64, top + row as i64, color, value);
                }
            }
        }
    }

    /// Fills the disc of `radius` pixels around `center`, anti-aliased at the edge.
    fn disc(&mut self, center: (f32, f32), radius: f32, color: Rgb<u8>) {
        let reach = radius.ceil() as i64 + 1;
        let (cx, cy) = (center.0.floor() as i64, center.1.floor() as i64);
        for y in cy - reach..=cy + reach {
            for x in cx - reach..=cx + reach {
                let dx = x as f32 + 0.5 - center.0;
                let dy = y as f32 + 0.5 - center.1;
                let value = radius + 0.5 - (dx * dx + dy * dy).sqrt();
                if value > 0.0 {
                    self.blend(x, y, color, value);
                }
            }
        }
    }

    /// Draws legend entries in one row, starting at `at.0`, vertically centred on `at.1`.
    fn legend(&mut self, style: &TextStyle<'_>, entries: &[(LegendMark, &str)], at: (f32, f32)) {
        let (mut x, middle) = at;
        for &(mark, text) in entries {
            let (left, right) = (x.round() as u32, (x + LEGEND_MARK_WIDTH).round() as u32);
            let middle_pixel = middle.round() as u32;
            match mark {
                LegendMark::Swatch(color) => self.fill_rect(
                    left + 6,
                    middle_pixel - 7,
                    right - 6,
                    middle_pixel + 7,
                    color,
                ),
                LegendMark::Line(color, dashed) => {
                    let points = [(x, middle), (x + LEGEND_MARK_WIDTH, middle)];
                    self.polyline(&points, 2.2, color, dashed);
                    self.disc((x + LEGEND_MARK_WIDTH / 2.0, middle), 3.5, color);
                }
                LegendMark::Rule => {
                    self.fill_rect(left, middle_pixel - 1, right, middle_pixel + 1, INK)
                }
            }
            x += LEGEND_MARK_WIDTH + 6.0;
            self.text(
                style,
                text,
                (x, middle),
                Along::Start,
                Across::Middle,
                Direction::Right,
            );
            x += style.width(text) + LEGEND_SPACING;
        }
    }
}

/// Splits the line through `points` into dashes of `on` pixels separated by `off` pixels,
/// with the pattern running on across corners.
fn dash_segments(points: &[(f32, f32)], on: f32, off: f32) -> Vec<((f32, f32), (f32, f32))> {
    let mut dashes = Vec::new();
    // Distance into the current on-off period.
    let mut phase = 0.0;
    for pair in points.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let length = ((end.0 - start.0).powi(2) + (end.1 - start.1).powi(2)).sqrt();
        let at = |distance: f32| {
            let t = if length > 0.0 { distance / length } else { 0.0 };
            (
                start.0 + (end.0 - start.0) * t,
                start.1 + (end.1 - start.1) * t,
            )
        };
        let mut travelled = 0.0;
        while travelled < length {
            let (limit, drawing) = if phase < on {
                (on, true)
            } else {
                (on + off, false)
            };
            let step = (limit - phase).min(length - travelled);
            if drawing {
                dashes.push((at(travelled), at(travelled + step)));
            }
            travelled += step;
            phase += step;
            if phase >= on + off {
                phase = 0.0;
            }
        }
    }
    dashes
}

fn distance_to_segment(point: (f32, f32), start: (f32, f32), end: (f32, f32)) -> f32 {
    let (dx, dy) = (end.0 - start.0, end.1 - start.1);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared > 0.0 {
        (((point.0 - start.0) * dx + (point.1 - start.1) * dy) / length_squared).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (nearest_x, nearest_y) = (start.0 + dx * t, start.1 + dy * t);
    ((point.0 - nearest_x).powi(2) + (point.1 - nearest_y).powi(2)).sqrt()
}

/// Encodes `image` as PNG, writes it to `<path>.tmp` and renames that onto `path`.
fn write_png_atomically(path: &Path, image: &RgbImage) -> Result<(u32, u32), PlotError> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|source| PlotError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    let mut temporary = OsString::from(path.as_os_str());
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let write_error = |source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::write(&temporary, &bytes).map_err(write_error)?;
    if let Err(source) = fs::rename(&temporary, path) {
        // The rename error is the one to report, so a failed cleanup is ignored.
        let _ = fs::remove_file(&temporary);
        return Err(write_error(source));
    }
    Ok(image.dimensions())
}
