#include "dicom/rtstruct.h"

#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmrt/drtstrct.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>

#include "core/checked_math.h"
#include "dicom/dcmtk_io.h"
#include "dicom/dicom.h"

namespace vg::dicom {
// A named namespace around the anonymous one: the library is a unity build, and seg.cpp's
// and overlay_series.cpp's helpers (Ds, NewUid, Text, ...) would otherwise meet these.
namespace rtstruct_detail {
namespace {

using Point = std::array<double, 3>;

// ---------------------------------------------------------------------------------------
// Reading

// DS values ("1.5\-2\+3E1", spaces allowed around each) into `out`; false when one is not a
// number. std::from_chars: no locale, no allocation, and a whole-value check.
bool ParseDecimals(std::string_view text, std::vector<double>& out) {
  out.clear();
  if (text.find_first_not_of(" \0", 0, 2) == std::string_view::npos) return true;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find('\\', start);
    std::string_view value = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.remove_suffix(1);
    if (!value.empty() && value.front() == '+') value.remove_prefix(1);
    double number = 0;
    const auto [at, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || at != value.data() + value.size()) return false;
    // Out of range (1e999) is as unusable as NaN: the caller refuses what is not finite.
    out.push_back(error == std::errc() ? number : std::numeric_limits<double>::infinity());
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

// A contour's ContourData as text, without copying it. DCMTK keeps an element that came
// as UN as bytes (unless a process-wide switch says otherwise); an Explicit VR writer sends
// ContourData past 64 KiB as UN (PS3.5 6.2.2, which C.8.8.6 allows), and its bytes are
// the DS text all the same.
std::string_view ContourText(DcmItem& contour) {
  DcmElement* data = nullptr;
  if (contour.findAndGetElement(DCM_ContourData, data).bad() || !data) return {};
  if (data->ident() == EVR_DS) {
    char* text = nullptr;
    Uint32 length = 0;
    if (static_cast<DcmByteString*>(data)->getString(text, length).bad() || !text) return {};
    return {text, length};
  }
  Uint8* bytes = nullptr;
  if (data->getUint8Array(bytes).bad() || !bytes) return {};
  return {reinterpret_cast<const char*>(bytes), data->getLength()};
}

// The items of a sequence; nextInContainer is O(1) per step, where getItem(i) walks the
// list from its start.
std::vector<DcmItem*> ItemsOf(DcmSequenceOfItems& sequence) {
  std::vector<DcmItem*> items;
  for (DcmObject* o = sequence.nextInContainer(nullptr); o; o = sequence.nextInContainer(o))
    items.push_back(static_cast<DcmItem*>(o));
  return items;
}

// The items of a dcmrt sequence, in order. Checked with getCurrentItem(Item*&): DCMTK
// 3.6.7's gotoNextItem reports success when it steps past the last item.
template <typename Sequence>
std::vector<typename Sequence::Item*> ItemsOf(Sequence& sequence) {
  std::vector<typename Sequence::Item*> items;
  typename Sequence::Item* item = nullptr;
  for (OFCondition c = sequence.gotoFirstItem(); c.good() && sequence.getCurrentItem(item).good() && item;
       c = sequence.gotoNextItem())
    items.push_back(item);
  return items;
}

std::string Str(OFCondition condition, const OFString& value) {
  return condition.good() ? std::string(value.c_str(), value.length()) : std::string();
}

// The ROI Contour Sequence into `out.rois` (matched by ROI number).
Result<void> ReadContours(DcmSequenceOfItems& outlines, const std::unordered_map<int, std::size_t>& index_of,
                          const RtStructLimits& limits, RtStructHeader& out) {
  std::int64_t points_kept = 0;
  std::vector<double> values;
  for (DcmItem* item : ItemsOf(outlines)) {
    Sint32 number = 0;
    if (item->findAndGetSint32(DCM_ReferencedROINumber, number).bad())
      return Fail(ErrorCode::kUnprocessable, "an item of the ROI Contour Sequence names no ROI");
    auto found = index_of.find(number);
    if (found == index_of.end())
      return Fail(ErrorCode::kUnprocessable,
                  fmt::format("the ROI Contour Sequence outlines ROI {}, which the Structure Set ROI Sequence does not list",
                              number));
    RoiContours& roi = out.rois[found->second];
    Sint32 rgb[3] = {-1, -1, -1};
    for (unsigned long c = 0; c < 3; ++c) item->findAndGetSint32(DCM_ROIDisplayColor, rgb[c], c);
    if (std::all_of(rgb, rgb + 3, [](Sint32 c) { return c >= 0 && c <= 255; }))
      roi.rgb = std::array<std::uint8_t, 3>{static_cast<std::uint8_t>(rgb[0]), static_cast<std::uint8_t>(rgb[1]),
                                            static_cast<std::uint8_t>(rgb[2])};
    DcmSequenceOfItems* contours = nullptr;
    if (item->findAndGetSequence(DCM_ContourSequence, contours).bad() || !contours) continue;
    std::int64_t index = 0;
    for (DcmItem* contour : ItemsOf(*contours)) {
      ++index;
      if (GetString(*contour, DCM_ContourGeometricType) != "CLOSED_PLANAR") {
        ++out.skipped_contours;  // POINT, OPEN_PLANAR, OPEN_NONPLANAR: no area to fill
        continue;
      }
      const std::string_view data = ContourText(*contour);
      // The count first, so that a forged file is refused before its numbers are parsed.
      const std::int64_t count =
          data.find_first_not_of(" \0", 0, 2) == std::string_view::npos ? 0 : std::count(data.begin(), data.end(), '\\') + 1;
      const std::string where = fmt::format("ROI {}, contour {}", number, index);
      if (count % 3 != 0)
        return Fail(ErrorCode::kUnprocessable, fmt::format("{}: {} coordinates, not a multiple of 3", where, count));
      if (contour->tagExistsWithValue(DCM_NumberOfContourPoints)) {
        Sint32 declared = 0;
        if (contour->findAndGetSint32(DCM_NumberOfContourPoints, declared).bad() ||
            static_cast<std::int64_t>(declared) * 3 != count)
          return Fail(ErrorCode::kUnprocessable,
                      fmt::format("{}: {} coordinates where NumberOfContourPoints says {} points", where, count,
                                  GetString(*contour, DCM_NumberOfContourPoints)));
      }
      if (count < 9) {  // fewer than 3 points: no area
        ++out.skipped_contours;
        continue;
      }
      points_kept += count / 3;
      if (points_kept > limits.max_points)
        return Fail(ErrorCode::kTooLarge, fmt::format("the structure set holds more than {} contour points",
                                                      limits.max_points));
      if (!ParseDecimals(data, values))
        return Fail(ErrorCode::kUnprocessable, fmt::format("{}: a coordinate is not a number", where));
      std::vector<Point> points(values.size() / 3);
      for (std::size_t p = 0; p < points.size(); ++p) {
        points[p] = {values[3 * p], values[3 * p + 1], values[3 * p + 2]};
        if (!std::isfinite(points[p][0]) || !std::isfinite(points[p][1]) || !std::isfinite(points[p][2]))
          return Fail(ErrorCode::kUnprocessable, fmt::format("{}: point {} is not a finite position", where, p + 1));
      }
      roi.contours.push_back(std::move(points));
    }
  }
  return {};
}

Result<RtStructHeader> Read(std::string_view part10, const RtStructLimits& limits) {
  auto loaded = LoadFromMemory(part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& ds = *loaded->dataset;
  if (GetString(ds, DCM_SOPClassUID) != UID_RTStructureSetStorage)
    return Fail(ErrorCode::kInvalidArgument, "not a DICOM RT Structure Set");
  // Counted before dcmrt copies every item.
  DcmSequenceOfItems* listed = nullptr;
  if (ds.findAndGetSequence(DCM_StructureSetROISequence, listed).good() && listed &&
      static_cast<std::int64_t>(listed->card()) > limits.max_rois)
    return Fail(ErrorCode::kTooLarge, fmt::format("the structure set lists {} ROIs, more than the {} accepted",
                                                  listed->card(), limits.max_rois));
  // dcmrt reads the modules; the ROI Contour Sequence is taken out first and read here:
  // dcmrt would copy every ContourData, and its ContourData getters (DCMTK 3.6.7) count
  // the values again for every value they return, quadratic in a contour's size.
  std::unique_ptr<DcmElement> outlines(ds.remove(DCM_ROIContourSequence));
  // Large (every attribute of every module is a member): on the heap.
  auto iod = std::make_unique<DRTStructureSetIOD>();
  if (OFCondition read = iod->read(ds); read.bad())
    return Fail(ErrorCode::kUnprocessable, "the RT Structure Set cannot be read", read.text());

  RtStructHeader out;
  OFString v;
  out.sop_uid = Str(iod->getSOPInstanceUID(v), v);
  out.series_uid = Str(iod->getSeriesInstanceUID(v), v);
  out.study_uid = Str(iod->getStudyInstanceUID(v), v);
  out.frame_of_reference_uid = Str(iod->getFrameOfReferenceUID(v), v);
  out.manufacturer = Str(iod->getManufacturer(v), v);
  out.software_versions = Str(iod->getSoftwareVersions(v, -1), v);
  out.label = Str(iod->getStructureSetLabel(v), v);
  out.series_description = Str(iod->getSeriesDescription(v), v);

  std::set<std::string> seen_series;
  for (auto* frame : ItemsOf(iod->getReferencedFrameOfReferenceSequence())) {
    if (out.frame_of_reference_uid.empty()) out.frame_of_reference_uid = Str(frame->getFrameOfReferenceUID(v), v);
    for (auto* study : ItemsOf(frame->getRTReferencedStudySequence()))
      for (auto* series : ItemsOf(study->getRTReferencedSeriesSequence())) {
        std::string uid = Str(series->getSeriesInstanceUID(v), v);
        if (!uid.empty() && seen_series.insert(uid).second) out.referenced_series_uids.push_back(std::move(uid));
      }
  }

  std::unordered_map<int, std::size_t> index_of;  // ROI number -> out.rois
  for (auto* item : ItemsOf(iod->getStructureSetROISequence())) {
    Sint32 number = 0;
    if (item->getROINumber(number).bad())
      return Fail(ErrorCode::kUnprocessable,
                  fmt::format("item {} of the Structure Set ROI Sequence has no ROI Number", out.rois.size() + 1));
    if (!index_of.emplace(number, out.rois.size()).second)
      return Fail(ErrorCode::kUnprocessable, fmt::format("ROI Number {} is listed twice", number));
    RoiContours roi;
    roi.number = number;
    roi.name = Str(item->getROIName(v), v);
    roi.generation_algorithm = Str(item->getROIGenerationAlgorithm(v), v);
    if (out.frame_of_reference_uid.empty()) out.frame_of_reference_uid = Str(item->getReferencedFrameOfReferenceUID(v), v);
    out.rois.push_back(std::move(roi));
  }

  for (auto* item : ItemsOf(iod->getRTROIObservationsSequence())) {
    Sint32 number = 0;
    if (item->getReferencedROINumber(number).bad()) continue;
    auto found = index_of.find(number);
    if (found == index_of.end()) continue;  // an observation of nothing outlined: harmless
    std::string type = Str(item->getRTROIInterpretedType(v), v);
    if (out.rois[found->second].interpreted_type.empty()) out.rois[found->second].interpreted_type = std::move(type);
  }

  if (outlines && outlines->ident() == EVR_SQ)
    if (auto read = ReadContours(*static_cast<DcmSequenceOfItems*>(outlines.get()), index_of, limits, out); !read)
      return std::unexpected(read.error());
  return out;
}

// ---------------------------------------------------------------------------------------
// Rasterising

// Patient position -> continuous voxel coordinates: the inverse of PatientPosition's
// matrix (columns row*sx, column*sy, normal*sz), which need not be orthonormal.
struct ToVoxel {
  std::array<double, 9> inverse{};  // row-major
  Point origin{};
  Point operator()(const Point& p) const {
    const double d[3] = {p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]};
    return {inverse[0] * d[0] + inverse[1] * d[1] + inverse[2] * d[2],
            inverse[3] * d[0] + inverse[4] * d[1] + inverse[5] * d[2],
            inverse[6] * d[0] + inverse[7] * d[1] + inverse[8] * d[2]};
  }
};

std::optional<ToVoxel> InverseOf(const VolumeGeometry& g) {
  // m[r][c]: component r of axis c.
  double m[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = g.direction[3 * c + r] * g.spacing[c];
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const double scale = g.spacing[0] * g.spacing[1] * g.spacing[2];
  if (!std::isfinite(det) || !(std::abs(det) > 1e-6 * scale)) return std::nullopt;
  ToVoxel t;
  t.origin = g.origin;
  t.inverse = {(m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det, (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
               (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det, (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
               (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det, (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
               (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det, (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
               (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det};
  return t;
}

// A contour's points are within this many slice gaps of its slice's plane.
constexpr double kPlaneTolerance = 0.49;
// One contour's row crossings are held in memory at once: a bound on that memory (8 bytes
// each), far above what any drawn outline crosses (a 512-row slice, thousands of points).
constexpr std::uint64_t kMaxCrossingsPerContour = 1ull << 24;

class ScanlineFiller {
 public:
  ScanlineFiller(std::int64_t columns, std::int64_t rows) : columns_(columns), rows_(rows) {}

  // XORs the polygon `ij` (continuous column, row coordinates) into `slice`: voxel (i, j)
  // flips iff its centre is inside (even-odd). An edge crosses row j iff
  // min(y) <= j < max(y) (half-open, so a vertex on a row counts once), at the x where it
  // meets the row's centre line; voxels with crossing[2n] <= i < crossing[2n+1] are inside.
  Result<void> Fill(const std::vector<std::array<double, 2>>& ij, std::uint8_t* slice, std::uint64_t& budget) {
    const std::size_t n = ij.size();
    std::int64_t row_lo = rows_, row_hi = -1;
    std::uint64_t total = 0;
    for (std::size_t e = 0; e < n; ++e) {
      const auto [lo, hi] = RowsOf(ij[e], ij[(e + 1) % n]);
      if (lo > hi) continue;
      total += static_cast<std::uint64_t>(hi - lo + 1);
      row_lo = std::min(row_lo, lo);
      row_hi = std::max(row_hi, hi);
    }
    if (total == 0) return {};
    if (total > kMaxCrossingsPerContour || total > budget)
      return Fail(ErrorCode::kTooLarge, "the structure set's contours cross too many rows of the grid to rasterise");
    budget -= total;
    // Counting sort by row: O(crossings + rows), then a sort of each row's few crossings.
    const std::int64_t span = row_hi - row_lo + 1;
    start_.assign(static_cast<std::size_t>(span + 1), 0);
    for (std::size_t e = 0; e < n; ++e) {
      const auto [lo, hi] = RowsOf(ij[e], ij[(e + 1) % n]);
      for (std::int64_t j = lo; j <= hi; ++j) ++start_[j - row_lo + 1];
    }
    for (std::int64_t r = 0; r < span; ++r) start_[r + 1] += start_[r];
    xs_.resize(total);
    next_.assign(start_.begin(), start_.end() - 1);
    for (std::size_t e = 0; e < n; ++e) {
      const auto& a = ij[e];
      const auto& b = ij[(e + 1) % n];
      const auto [lo, hi] = RowsOf(a, b);
      const double slope = (b[0] - a[0]) / (b[1] - a[1]);
      for (std::int64_t j = lo; j <= hi; ++j) xs_[next_[j - row_lo]++] = a[0] + (static_cast<double>(j) - a[1]) * slope;
    }
    for (std::int64_t r = 0; r < span; ++r) {
      double* first = xs_.data() + start_[r];
      double* last = xs_.data() + start_[r + 1];
      std::sort(first, last);
      std::uint8_t* row = slice + (row_lo + r) * columns_;
      // A closed polygon crosses every row an even number of times; a stray last crossing
      // (impossible by the half-open rule) would be ignored.
      for (double* x = first; x + 1 < last; x += 2) {
        const auto from = static_cast<std::int64_t>(std::clamp(std::ceil(x[0]), 0.0, static_cast<double>(columns_)));
        const auto to = static_cast<std::int64_t>(std::clamp(std::ceil(x[1]), 0.0, static_cast<double>(columns_)));
        for (std::int64_t i = from; i < to; ++i) row[i] ^= 1;
      }
    }
    return {};
  }

 private:
  // Rows j in [0, rows) with min(a.y, b.y) <= j < max(a.y, b.y); lo > hi when none. In
  // double until clamped: a coordinate far off the grid must not overflow an integer.
  std::pair<std::int64_t, std::int64_t> RowsOf(const std::array<double, 2>& a, const std::array<double, 2>& b) const {
    if (a[1] == b[1]) return {1, 0};
    const double lo = std::max(0.0, std::ceil(std::min(a[1], b[1])));
    const double hi = std::min(static_cast<double>(rows_ - 1), std::ceil(std::max(a[1], b[1])) - 1);
    if (lo > hi) return {1, 0};
    return {static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi)};
  }

  std::int64_t columns_, rows_;
  std::vector<std::int64_t> start_, next_;
  std::vector<double> xs_;
};

Result<RasterisedRois> Rasterise(const RtStructHeader& rt, const VolumeGeometry& grid) {
  if (auto usable = CheckGeometry(grid, static_cast<std::int64_t>(kMaxRtStructMaskBytes)); !usable)
    return std::unexpected(usable.error());
  const auto to_voxel = InverseOf(grid);
  if (!to_voxel) return Fail(ErrorCode::kUnprocessable, "the grid's axes do not span a volume");
  const std::int64_t columns = grid.dims[0], rows = grid.dims[1], slices = grid.dims[2];
  const std::int64_t plane = columns * rows;
  RasterisedRois out;
  std::uint64_t mask_bytes = 0;
  std::uint64_t crossing_budget = kMaxRtStructCrossings;
  ScanlineFiller filler(columns, rows);
  std::vector<std::array<double, 2>> ij;
  for (const RoiContours& roi : rt.rois) {
    std::vector<std::uint8_t>* mask = nullptr;
    for (const auto& contour : roi.contours) {
      if (contour.size() < 3) {
        ++out.skipped_contours;
        continue;
      }
      ij.clear();
      bool on_a_slice = true;
      std::int64_t k = 0;
      for (std::size_t p = 0; p < contour.size() && on_a_slice; ++p) {
        const Point v = (*to_voxel)(contour[p]);
        if (!std::isfinite(v[0]) || !std::isfinite(v[1]) || !std::isfinite(v[2])) {
          on_a_slice = false;
          break;
        }
        if (p == 0) {
          // Compared in double before it becomes an integer (a point may be anywhere).
          if (!(v[2] > -0.5 && v[2] < static_cast<double>(slices) - 0.5)) {
            on_a_slice = false;
            break;
          }
          k = std::llround(v[2]);
        }
        if (std::abs(v[2] - static_cast<double>(k)) > kPlaneTolerance) on_a_slice = false;
        ij.push_back({v[0], v[1]});
      }
      if (!on_a_slice) {
        ++out.skipped_contours;
        continue;
      }
      if (!mask) {
        auto it = out.masks.find(roi.number);
        if (it == out.masks.end()) {
          mask_bytes += static_cast<std::uint64_t>(grid.VoxelCount());
          if (mask_bytes > kMaxRtStructMaskBytes)
            return Fail(ErrorCode::kTooLarge, fmt::format("the structure set's ROIs need more than {} MiB on this grid",
                                                          kMaxRtStructMaskBytes >> 20));
          it = out.masks.emplace(roi.number, std::vector<std::uint8_t>(static_cast<std::size_t>(grid.VoxelCount()), 0))
                   .first;
        }
        mask = &it->second;
      }
      if (auto filled = filler.Fill(ij, mask->data() + k * plane, crossing_budget); !filled)
        return std::unexpected(filled.error());
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Tracing outlines

// Directions on the lattice of voxel corners, clockwise on screen (row index grows
// downwards): a right turn is d + 1.
enum : int { kEast = 0, kSouth = 1, kWest = 2, kNorth = 3 };
constexpr std::uint8_t kSaddle = 16;

// The boundary of one label on one slice as closed loops of corner indices
// (cy * (columns + 1) + cx; corner (cx, cy) is voxel position (cx - 0.5, cy - 0.5)).
// Each boundary edge is directed with the inside on its right, so every corner has as many
// edges in as out: one, or two at a saddle (two voxels touching only diagonally). At a
// saddle the walk turns right, staying with the voxel it went round; a loop that still
// meets itself at a corner (a ring pinched at a diagonal) is cut there into two. So no
// loop visits a corner twice, and the loops hold each boundary edge exactly once: their
// even-odd fill is the label's voxels, however they are linked.
class Tracer {
 public:
  Tracer(std::int64_t columns, std::int64_t rows)
      : columns_(columns), rows_(rows), stride_(columns + 1),
        out_(static_cast<std::size_t>((columns + 1) * (rows + 1)), 0),
        position_(static_cast<std::size_t>((columns + 1) * (rows + 1)), -1) {}

  // Rows [row0, row1) of `slice` (voxels outside the band count as outside).
  std::vector<std::vector<std::int64_t>> Loops(const std::uint8_t* slice, std::uint8_t label, std::int64_t row0,
                                               std::int64_t row1) {
    auto inside = [&](std::int64_t x, std::int64_t y) {
      return x >= 0 && x < columns_ && y >= row0 && y < row1 && slice[y * columns_ + x] == label;
    };
    std::fill(out_.begin() + row0 * stride_, out_.begin() + (row1 + 1) * stride_, 0);
    for (std::int64_t y = row0; y < row1; ++y)
      for (std::int64_t x = 0; x < columns_; ++x) {
        if (!inside(x, y)) continue;
        if (!inside(x, y - 1)) out_[y * stride_ + x] |= 1 << kEast;
        if (!inside(x + 1, y)) out_[y * stride_ + x + 1] |= 1 << kSouth;
        if (!inside(x, y + 1)) out_[(y + 1) * stride_ + x + 1] |= 1 << kWest;
        if (!inside(x - 1, y)) out_[(y + 1) * stride_ + x] |= 1 << kNorth;
      }
    for (std::int64_t c = row0 * stride_; c < (row1 + 1) * stride_; ++c)
      if (out_[c] == ((1 << kEast) | (1 << kWest)) || out_[c] == ((1 << kSouth) | (1 << kNorth))) out_[c] |= kSaddle;

    std::vector<std::vector<std::int64_t>> loops;
    for (std::int64_t s = row0 * stride_; s < (row1 + 1) * stride_; ++s)
      while (out_[s] & 15) Walk(s, loops);
    return loops;
  }

  std::int64_t stride() const { return stride_; }

 private:
  std::int64_t Step(int d) const { return d == kEast ? 1 : d == kSouth ? stride_ : d == kWest ? -1 : -stride_; }

  static int LowestDirection(std::uint8_t bits) {
    for (int d = 0; d < 4; ++d)
      if (bits & (1 << d)) return d;
    return -1;
  }

  void Walk(std::int64_t start, std::vector<std::vector<std::int64_t>>& loops) {
    const int first = LowestDirection(out_[start]);
    path_.clear();
    path_.push_back(start);
    std::int64_t at = start;
    int d = first;
    out_[at] &= static_cast<std::uint8_t>(~(1 << d));
    while (true) {
      at += Step(d);
      const int next = (out_[at] & kSaddle) ? (d + 1) % 4 : LowestDirection(out_[at] & 15);
      // Back where it started (the start's own edge is spent): closed. Anywhere else the
      // next edge exists by construction; the check only keeps a bug from looping forever.
      if (next < 0 || !(out_[at] & (1 << next))) break;
      out_[at] &= static_cast<std::uint8_t>(~(1 << next));
      path_.push_back(at);
      d = next;
    }
    // Cut at repeated corners: a stack of the open path; meeting a corner already on it
    // closes the loop from there.
    stack_.clear();
    auto visit = [&](std::int64_t corner) {
      std::int64_t& at_index = position_[corner];
      if (at_index < 0) {
        at_index = static_cast<std::int64_t>(stack_.size());
        stack_.push_back(corner);
        return;
      }
      const std::int64_t from = at_index;
      loops.emplace_back(stack_.begin() + from, stack_.end());
      for (std::size_t i = static_cast<std::size_t>(from) + 1; i < stack_.size(); ++i) position_[stack_[i]] = -1;
      stack_.resize(static_cast<std::size_t>(from) + 1);
    };
    for (std::int64_t corner : path_) visit(corner);
    visit(start);  // the closing edge
    for (std::int64_t corner : stack_) position_[corner] = -1;
  }

  std::int64_t columns_, rows_, stride_;
  std::vector<std::uint8_t> out_;        // per corner: the boundary edges leaving it, and kSaddle
  std::vector<std::int64_t> position_;   // per corner: its index on stack_, or -1
  std::vector<std::int64_t> path_, stack_;
};

// The loop's corners where it turns (a straight run keeps only its ends).
std::vector<std::int64_t> Corners(const std::vector<std::int64_t>& loop) {
  std::vector<std::int64_t> kept;
  const std::size_t n = loop.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t before = loop[i] - loop[(i + n - 1) % n];
    const std::int64_t after = loop[(i + 1) % n] - loop[i];
    if (before != after) kept.push_back(loop[i]);
  }
  return kept;
}

Point CornerPosition(const VolumeGeometry& g, std::int64_t corner, std::int64_t stride, std::int64_t k) {
  const std::int64_t cx = corner % stride, cy = corner / stride;
  return g.PatientPosition(static_cast<double>(cx) - 0.5, static_cast<double>(cy) - 0.5, static_cast<double>(k));
}

bool SliceHolds(const LabelVolume& labels, std::int64_t k, std::uint8_t label) {
  const std::int64_t plane = labels.geometry.dims[0] * labels.geometry.dims[1];
  const std::uint8_t* slice = labels.labels.data() + k * plane;
  return std::find(slice, slice + plane, label) != slice + plane;
}

bool HoldsItsGrid(const LabelVolume& labels) {
  const auto& d = labels.geometry.dims;
  const auto voxels = ProductWithin({d[0], d[1], d[2]}, std::numeric_limits<std::int64_t>::max());
  return voxels && d[0] > 0 && d[1] > 0 && d[2] > 0 && labels.labels.size() == *voxels;
}

std::vector<std::pair<std::int64_t, std::vector<Point>>> Outlines(const LabelVolume& labels, std::uint8_t label) {
  std::vector<std::pair<std::int64_t, std::vector<Point>>> out;
  if (!HoldsItsGrid(labels)) return out;
  const VolumeGeometry& g = labels.geometry;
  Tracer tracer(g.dims[0], g.dims[1]);
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    if (!SliceHolds(labels, k, label)) continue;
    const std::uint8_t* slice = labels.labels.data() + k * g.dims[0] * g.dims[1];
    for (const auto& loop : tracer.Loops(slice, label, 0, g.dims[1])) {
      std::vector<Point> points;
      for (std::int64_t corner : Corners(loop)) points.push_back(CornerPosition(g, corner, tracer.stride(), k));
      out.emplace_back(k, std::move(points));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing

// A DS value in at most 16 characters, with as many significant digits as fit (at most
// 12: sub-nanometre where coordinates are within metres). Rounding noise around zero
// ("-1.4e-14") is written as 0.
std::string Ds(double value) {
  if (std::abs(value) < 5e-10) return "0";
  for (int precision = 12; precision > 1; --precision) {
    std::string text = fmt::format("{:.{}g}", value, precision);
    if (text.size() <= 16) return text;
  }
  return fmt::format("{:.1e}", value);
}

std::string NewUid() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::array<std::uint8_t, 16> bits;
  for (int half = 0; half < 2; ++half) {
    const std::uint64_t r = random();
    for (int i = 0; i < 8; ++i) bits[8 * half + i] = static_cast<std::uint8_t>(r >> (8 * i));
  }
  return UidFromBits(bits);
}

// Text of ours in a value of at most `max_bytes`: no backslash (the value separator) or
// control characters, and only ASCII unless the copied attributes are in UTF-8 (ISO_IR
// 192); a UTF-8 sequence is never cut in half.
std::string Text(std::string_view text, std::size_t max_bytes, bool utf8) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    length = std::min(length, text.size() - i);
    if (c < 0x80) {
      if (out.size() + 1 > max_bytes) break;
      out += c == '\\' ? '/' : std::iscntrl(c) ? ' ' : static_cast<char>(c);
    } else if (utf8 && c >= 0xC0) {
      if (out.size() + length > max_bytes) break;
      out.append(text.substr(i, length));
    }
    i += length;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool IsMultiFrameClass(std::string_view sop_class) {
  static constexpr std::array<std::string_view, 9> kMultiFrame = {
      "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.1",
      "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1",
      "1.2.840.10008.5.1.4.1.1.20",  "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3"};
  return std::find(kMultiFrame.begin(), kMultiFrame.end(), sop_class) != kMultiFrame.end();
}

// Patient (and clinical trial subject), study, patient study and clinical trial study
// attributes, copied from the source so that the structure set files under the same
// patient and study.
const DcmTagKey kCopied[] = {
    DCM_SpecificCharacterSet,
    // Patient
    DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_IssuerOfPatientIDQualifiersSequence, DCM_TypeOfPatientID,
    DCM_PatientBirthDate, DCM_PatientBirthTime, DCM_PatientSex, DCM_OtherPatientIDsSequence, DCM_OtherPatientNames,
    DCM_EthnicGroup, DCM_PatientComments, DCM_PatientSpeciesDescription, DCM_PatientSpeciesCodeSequence,
    DCM_PatientBreedDescription, DCM_PatientBreedCodeSequence, DCM_BreedRegistrationSequence, DCM_ResponsiblePerson,
    DCM_ResponsiblePersonRole, DCM_ResponsibleOrganization, DCM_PatientIdentityRemoved, DCM_DeidentificationMethod,
    DCM_DeidentificationMethodCodeSequence, DCM_QualityControlSubject,
    // Clinical Trial Subject
    DCM_ClinicalTrialSponsorName, DCM_ClinicalTrialProtocolID, DCM_ClinicalTrialProtocolName, DCM_ClinicalTrialSiteID,
    DCM_ClinicalTrialSiteName, DCM_ClinicalTrialSubjectID, DCM_ClinicalTrialSubjectReadingID,
    // General Study
    DCM_StudyInstanceUID, DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName,
    DCM_ReferringPhysicianIdentificationSequence, DCM_ConsultingPhysicianName, DCM_StudyID, DCM_AccessionNumber,
    DCM_IssuerOfAccessionNumberSequence, DCM_StudyDescription, DCM_PhysiciansOfRecord, DCM_NameOfPhysiciansReadingStudy,
    DCM_ReferencedStudySequence, DCM_ProcedureCodeSequence, DCM_ReasonForPerformedProcedureCodeSequence,
    // Patient Study
    DCM_AdmittingDiagnosesDescription, DCM_PatientAge, DCM_PatientSize, DCM_PatientWeight, DCM_Occupation,
    DCM_AdditionalPatientHistory, DCM_PregnancyStatus,
    // Clinical Trial Study and Series
    DCM_ClinicalTrialTimePointID, DCM_ClinicalTrialTimePointDescription, DCM_ConsentForClinicalTrialUseSequence,
    DCM_ClinicalTrialCoordinatingCenterName,
    // Frame of Reference (its UID is set from the volume)
    DCM_PositionReferenceIndicator};

// Type 2 attributes of the Patient, General Study and Frame of Reference modules:
// present, if empty.
const DcmTagKey kRequiredEmpty[] = {DCM_PatientName,  DCM_PatientID,   DCM_PatientBirthDate,
                                    DCM_PatientSex,   DCM_StudyDate,   DCM_StudyTime,
                                    DCM_ReferringPhysicianName,        DCM_StudyID,
                                    DCM_AccessionNumber,               DCM_PositionReferenceIndicator};

constexpr const char* kRtTargetCodes[][2] = {{"228793007", "PTV"}, {"228792002", "CTV"}, {"228791009", "GTV"}};
constexpr const char* kEntireBody = "38266002";

// RT ROI Interpreted Type of a segment. PTV/CTV/GTV when the segment's type is that target
// concept and EXTERNAL for the entire body: then the label says what a planning system
// needs. ORGAN for the Anatomical Structure category, the term for an outlined organ.
// Otherwise empty (Type 2: not known): a lesion an algorithm found is not a GTV (a target
// is a clinician's decision), and CONTROL means a helper structure for dose optimisation,
// which a segmentation is not; claiming either would steer a planning system wrongly.
std::string RoiTypeOfSegment(const SegmentInfo& s) {
  if (s.type.scheme == "SCT") {
    for (const auto& [code, type] : kRtTargetCodes)
      if (s.type.code == code) return type;
    if (s.type.code == kEntireBody) return "EXTERNAL";
  }
  if (s.category.scheme == "SCT" && s.category.code == "123037004") return "ORGAN";
  return "";
}

void PutString(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  item.putAndInsertString(tag, value.c_str());
}

DcmItem& AppendItem(DcmSequenceOfItems& sequence) {
  auto* item = new DcmItem();
  sequence.append(item);
  return *item;
}

DcmSequenceOfItems& NewSequence(DcmItem& parent, const DcmTagKey& tag) {
  auto* sequence = new DcmSequenceOfItems(tag);
  parent.insert(sequence, /*replaceOld=*/OFTrue);
  return *sequence;
}

// An Explicit VR DS holds at most 64 KiB - 2 (a 16-bit length, even).
constexpr std::size_t kMaxDsBytes = 65534;

// The contours of `label` on slice k, as ContourData values. A loop whose value would not
// fit is traced again in two bands of rows, down to single rows if need be (where every
// loop is a rectangle of 4 points): the bands meet along a horizontal line between rows,
// which no row's centre line crosses, so rasterising the pieces gives the same voxels and
// each piece is an ordinary simple polygon for any reader.
void EncodeSlice(const LabelVolume& labels, std::uint8_t label, std::int64_t k, std::int64_t row0, std::int64_t row1,
                 Tracer& tracer, std::vector<std::pair<std::string, std::int64_t>>& encoded) {
  const VolumeGeometry& g = labels.geometry;
  const std::uint8_t* slice = labels.labels.data() + k * g.dims[0] * g.dims[1];
  const auto loops = tracer.Loops(slice, label, row0, row1);
  std::vector<std::pair<std::string, std::int64_t>> here;
  for (const auto& loop : loops) {
    const auto corners = Corners(loop);
    std::string data;
    for (std::int64_t corner : corners) {
      const Point p = CornerPosition(g, corner, tracer.stride(), k);
      if (!data.empty()) data += '\\';
      data += Ds(p[0]);
      data += '\\';
      data += Ds(p[1]);
      data += '\\';
      data += Ds(p[2]);
      if (data.size() > kMaxDsBytes) break;
    }
    if (data.size() > kMaxDsBytes && row1 - row0 > 1) {
      const std::int64_t middle = row0 + (row1 - row0) / 2;
      EncodeSlice(labels, label, k, row0, middle, tracer, encoded);
      EncodeSlice(labels, label, k, middle, row1, tracer, encoded);
      return;
    }
    here.emplace_back(std::move(data), static_cast<std::int64_t>(corners.size()));
  }
  for (auto& e : here) encoded.push_back(std::move(e));
}

Result<std::string> Write(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                          const std::vector<SegmentInfo>& segments, const RtStructWriteOptions& options) {
  const VolumeGeometry& g = source.geometry;
  if (!labels.geometry.SameGrid(g) || !HoldsItsGrid(labels))
    return Fail(ErrorCode::kInvalidArgument, "the labels are not on the source volume's grid");
  if (static_cast<std::int64_t>(source.slices.size()) != g.dims[2])
    return Fail(ErrorCode::kInternal, "the source volume does not name its slices");
  if (segments.empty()) return Fail(ErrorCode::kInvalidArgument, "a structure set needs at least one segment");
  if (options.series_number < std::numeric_limits<std::int32_t>::min() ||
      options.series_number > std::numeric_limits<std::int32_t>::max())
    return Fail(ErrorCode::kInvalidArgument, "the series number does not fit DICOM's IS");
  std::set<int> numbers;
  for (const SegmentInfo& s : segments) {
    if (s.label < 1 || s.label > 255) return Fail(ErrorCode::kInvalidArgument, "segment labels are 1..255");
    if (!numbers.insert(s.label).second)
      return Fail(ErrorCode::kInvalidArgument, fmt::format("label {} is given to two segments", s.label));
  }
  auto loaded = LoadFromMemory(source_part10);
  if (!loaded) return std::unexpected(loaded.error());
  DcmDataset& src = *loaded->dataset;
  const std::string frame_of_reference =
      source.frame_of_reference_uid.empty() ? GetString(src, DCM_FrameOfReferenceUID) : source.frame_of_reference_uid;
  if (frame_of_reference.empty())
    return Fail(ErrorCode::kUnprocessable, "the source series has no Frame of Reference UID for the contours to be in");
  const std::string source_series = source.series_uid.empty() ? GetString(src, DCM_SeriesInstanceUID) : source.series_uid;

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  for (const DcmTagKey& tag : kCopied)
    if (src.tagExists(tag)) src.findAndInsertCopyOfElement(tag, &ds);
  for (const DcmTagKey& tag : kRequiredEmpty)
    if (!ds.tagExists(tag)) ds.putAndInsertString(tag, "");
  if (GetString(ds, DCM_StudyInstanceUID).empty()) {
    if (source.study_uid.empty()) return Fail(ErrorCode::kInvalidArgument, "the source image names no study");
    PutString(ds, DCM_StudyInstanceUID, source.study_uid);
  }
  const std::string study_uid = GetString(ds, DCM_StudyInstanceUID);
  const bool utf8 = GetString(ds, DCM_SpecificCharacterSet).find("ISO_IR 192") != std::string::npos;

  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  // SOP Common
  PutString(ds, DCM_SOPClassUID, UID_RTStructureSetStorage);
  PutString(ds, DCM_SOPInstanceUID, options.sop_uid.empty() ? NewUid() : options.sop_uid);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationDate, date);
  ds.putAndInsertOFStringArray(DCM_InstanceCreationTime, time);
  // RT Series
  PutString(ds, DCM_Modality, "RTSTRUCT");
  PutString(ds, DCM_SeriesInstanceUID, options.series_uid.empty() ? NewUid() : options.series_uid);
  PutString(ds, DCM_SeriesNumber, std::to_string(options.series_number));
  ds.putAndInsertOFStringArray(DCM_SeriesDate, date);
  ds.putAndInsertOFStringArray(DCM_SeriesTime, time);
  if (auto description = Text(options.series_description, 64, utf8); !description.empty())
    PutString(ds, DCM_SeriesDescription, description);
  PutString(ds, DCM_OperatorsName, "");
  // General Equipment
  PutString(ds, DCM_Manufacturer, Text(options.manufacturer, 64, utf8));
  if (auto versions = Text(options.software_version, 64, utf8); !versions.empty())
    PutString(ds, DCM_SoftwareVersions, versions);
  // Frame of Reference: the grid's, so that a reader needs no other object to place it.
  PutString(ds, DCM_FrameOfReferenceUID, frame_of_reference);
  // Structure Set
  const std::string set_label = Text(options.label, 16, false);
  PutString(ds, DCM_StructureSetLabel, set_label.empty() ? "VOXELGATE" : set_label);
  ds.putAndInsertOFStringArray(DCM_StructureSetDate, date);
  ds.putAndInsertOFStringArray(DCM_StructureSetTime, time);
  PutString(ds, DCM_InstanceNumber, "1");

  // Which slices are frames of a multi-frame image (their references name the frame).
  std::unordered_map<std::string, int> uses;
  for (const SliceSource& s : source.slices) ++uses[s.sop_uid];
  auto reference_image = [&](DcmItem& item, std::int64_t k) {
    const SliceSource& s = source.slices[static_cast<std::size_t>(k)];
    PutString(item, DCM_ReferencedSOPClassUID, s.sop_class_uid);
    PutString(item, DCM_ReferencedSOPInstanceUID, s.sop_uid);
    if (uses[s.sop_uid] > 1 || s.frame > 1 || IsMultiFrameClass(s.sop_class_uid))
      PutString(item, DCM_ReferencedFrameNumber, std::to_string(s.frame));
  };
  {
    DcmItem& frame = AppendItem(NewSequence(ds, DCM_ReferencedFrameOfReferenceSequence));
    PutString(frame, DCM_FrameOfReferenceUID, frame_of_reference);
    DcmItem& study = AppendItem(NewSequence(frame, DCM_RTReferencedStudySequence));
    // The (retired) Detached Study Management SOP Class, as C.8.8.5 still asks here.
    PutString(study, DCM_ReferencedSOPClassUID, "1.2.840.10008.3.1.2.3.1");
    PutString(study, DCM_ReferencedSOPInstanceUID, study_uid);
    DcmItem& series = AppendItem(NewSequence(study, DCM_RTReferencedSeriesSequence));
    PutString(series, DCM_SeriesInstanceUID, source_series);
    DcmSequenceOfItems& images = NewSequence(series, DCM_ContourImageSequence);
    std::set<std::pair<std::string, std::int64_t>> listed;
    for (std::int64_t k = 0; k < g.dims[2]; ++k)
      if (listed.emplace(source.slices[k].sop_uid, source.slices[k].frame).second)
        reference_image(AppendItem(images), k);
  }

  DcmSequenceOfItems& roi_list = NewSequence(ds, DCM_StructureSetROISequence);
  DcmSequenceOfItems& roi_contours = NewSequence(ds, DCM_ROIContourSequence);
  DcmSequenceOfItems& observations = NewSequence(ds, DCM_RTROIObservationsSequence);
  Tracer tracer(g.dims[0], g.dims[1]);
  std::uint64_t contour_bytes = 0;
  std::int64_t contours_written = 0;
  std::int64_t observation = 0;
  for (const SegmentInfo& s : segments) {
    const std::string number = std::to_string(s.label);
    DcmItem& listed = AppendItem(roi_list);
    PutString(listed, DCM_ROINumber, number);
    PutString(listed, DCM_ReferencedFrameOfReferenceUID, frame_of_reference);
    PutString(listed, DCM_ROIName, Text(s.name.empty() ? s.type.meaning : s.name, 64, utf8));
    PutString(listed, DCM_ROIGenerationAlgorithm, options.automatic ? "AUTOMATIC" : "MANUAL");
    if (options.automatic) {
      const bool own = options.algorithm_name.empty();  // else the segment's, when it names one
      const std::string& name = own ? s.algorithm_name : options.algorithm_name;
      const std::string& version = own ? s.algorithm_version : options.algorithm_version;
      const std::string algorithm = version.empty() ? name : name + " " + version;
      if (auto description = Text(algorithm, 64, utf8); !description.empty())
        PutString(listed, DCM_ROIGenerationDescription, description);
    }

    DcmItem& outline = AppendItem(roi_contours);
    PutString(outline, DCM_ReferencedROINumber, number);
    PutString(outline, DCM_ROIDisplayColor, fmt::format("{}\\{}\\{}", s.rgb[0], s.rgb[1], s.rgb[2]));
    // A segment not painted yet keeps its ROI, without contours (Contour Sequence is Type 3).
    DcmSequenceOfItems* contours = nullptr;
    const auto label = static_cast<std::uint8_t>(s.label);
    std::vector<std::pair<std::string, std::int64_t>> encoded;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      if (!SliceHolds(labels, k, label)) continue;
      encoded.clear();
      EncodeSlice(labels, label, k, 0, g.dims[1], tracer, encoded);
      for (auto& [data, points] : encoded) {
        contour_bytes += data.size();
        if (contour_bytes > kMaxRtStructContourBytes)
          return Fail(ErrorCode::kTooLarge, fmt::format("the contours need more than the {} MiB a structure set written "
                                                        "here may hold; save fewer labels",
                                                        kMaxRtStructContourBytes >> 20));
        if (!contours) contours = &NewSequence(outline, DCM_ContourSequence);
        DcmItem& contour = AppendItem(*contours);
        reference_image(AppendItem(NewSequence(contour, DCM_ContourImageSequence)), k);
        PutString(contour, DCM_ContourGeometricType, "CLOSED_PLANAR");
        PutString(contour, DCM_NumberOfContourPoints, std::to_string(points));
        auto* values = new DcmDecimalString(DCM_ContourData);
        values->putString(data.c_str(), static_cast<Uint32>(data.size()));
        contour.insert(values, /*replaceOld=*/OFTrue);
        ++contours_written;
      }
    }

    DcmItem& observed = AppendItem(observations);
    PutString(observed, DCM_ObservationNumber, std::to_string(++observation));
    PutString(observed, DCM_ReferencedROINumber, number);
    PutString(observed, DCM_RTROIInterpretedType, RoiTypeOfSegment(s));
    PutString(observed, DCM_ROIInterpreter, "");
  }
  if (contours_written == 0)
    return Fail(ErrorCode::kInvalidArgument, "the segmentation is empty: no voxel carries a segment's label");
  return WriteFileToString(file);
}

// ---------------------------------------------------------------------------------------
// ROI -> segment

const CodedConcept kAnatomy{"123037004", "SCT", "Anatomical Structure"};
const CodedConcept kAltered{"49755003", "SCT", "Morphologically Altered Structure"};
const CodedConcept kSpatial{"309825002", "SCT", "Spatial and Relational Concept"};
const CodedConcept kTissueCategory{"85756007", "SCT", "Tissue"};

struct NamedConcept {
  std::string_view keyword;  // in the ROI name, lower case, without spaces and punctuation
  CodedConcept category, type;
  CodedConcept left{}, right{};  // the lateral concepts, where SNOMED CT has them
};

// Common organs in ROI names, in matching order (brainstem before brain, gallbladder before
// bladder). Codes as in web/src/viewer/terms.ts where it has them.
const std::vector<NamedConcept>& NamedConcepts() {
  static const std::vector<NamedConcept> kConcepts = {
      {"lung", kAnatomy, {"39607008", "SCT", "Lung"}, {"44029006", "SCT", "Left lung"}, {"3341006", "SCT", "Right lung"}},
      {"kidney", kAnatomy, {"64033007", "SCT", "Kidney"}, {"18639004", "SCT", "Left kidney"},
       {"9846003", "SCT", "Right kidney"}},
      {"liver", kAnatomy, {"10200004", "SCT", "Liver"}},
      {"heart", kAnatomy, {"80891009", "SCT", "Heart"}},
      {"spleen", kAnatomy, {"78961009", "SCT", "Spleen"}},
      {"pancreas", kAnatomy, {"15776009", "SCT", "Pancreas"}},
      {"stomach", kAnatomy, {"69695003", "SCT", "Stomach"}},
      {"gallbladder", kAnatomy, {"28231008", "SCT", "Gallbladder"}},
      {"bladder", kAnatomy, {"89837001", "SCT", "Urinary bladder"}},
      {"brainstem", kAnatomy, {"15926001", "SCT", "Brainstem"}},
      {"brain", kAnatomy, {"12738006", "SCT", "Brain"}},
      {"spinalcord", kAnatomy, {"2748008", "SCT", "Spinal cord"}},
      {"esophagus", kAnatomy, {"32849002", "SCT", "Esophagus"}},
      {"prostate", kAnatomy, {"41216001", "SCT", "Prostate"}},
      {"rectum", kAnatomy, {"34402009", "SCT", "Rectum"}},
      {"aorta", kAnatomy, {"15825003", "SCT", "Aorta"}},
      {"trachea", kAnatomy, {"44567001", "SCT", "Trachea"}},
      {"thyroid", kAnatomy, {"69748006", "SCT", "Thyroid"}},
      {"parotid", kAnatomy, {"45289007", "SCT", "Parotid gland"}},
      {"mandible", kAnatomy, {"91609006", "SCT", "Mandible"}},
      {"duodenum", kAnatomy, {"38848004", "SCT", "Duodenum"}},
      {"colon", kAnatomy, {"71854001", "SCT", "Colon"}},
      {"vessel", kAnatomy, {"59820001", "SCT", "Blood vessel"}},
      {"bone", kTissueCategory, {"272673000", "SCT", "Bone"}},
      {"tumour", kAltered, {"108369006", "SCT", "Neoplasm"}},
      {"tumor", kAltered, {"108369006", "SCT", "Neoplasm"}},
      {"lesion", kAltered, {"52988006", "SCT", "Lesion"}},
      {"nodule", kAltered, {"27925004", "SCT", "Nodule"}},
  };
  return kConcepts;
}

struct Target {
  std::string_view interpreted_type;
  CodedConcept category, type;
};
// CID 9534 Radiotherapy Targets (SNOMED CT observable entities).
const std::vector<Target>& Targets() {
  static const std::vector<Target> kTargets = {
      {"PTV", kSpatial, {"228793007", "SCT", "Planning target volume"}},
      {"CTV", kSpatial, {"228792002", "SCT", "Clinical target volume"}},
      {"GTV", kAltered, {"228791009", "SCT", "Gross tumor volume"}},
      {"ITV", kSpatial, {"1201745009", "SCT", "Internal target volume"}},
  };
  return kTargets;
}

SegmentInfo OfRoi(const RoiContours& roi) {
  SegmentInfo s;
  s.label = roi.number >= 1 && roi.number <= 255 ? roi.number : 0;
  s.name = roi.name;
  if (roi.rgb) s.rgb = *roi.rgb;
  // SEMIAUTOMATIC stays manual: a segment's algorithm type has no "semi", and calling a
  // person's corrected outline automatic would hide the person.
  s.automatic = roi.generation_algorithm == "AUTOMATIC";
  if (s.automatic) s.algorithm_name = "unknown";

  // The name, lower case, letters and digits only; its words for laterality.
  std::string compact, spaced;
  for (char c : roi.name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      compact += static_cast<char>(std::tolower(u));
      spaced += static_cast<char>(std::tolower(u));
    } else {
      spaced += ' ';
    }
  }
  const std::string words = " " + spaced + " ";
  auto has_word = [&](std::initializer_list<std::string_view> options) {
    for (auto w : options)
      if (words.find(" " + std::string(w) + " ") != std::string::npos) return true;
    return false;
  };
  const bool left = compact.find("left") != std::string::npos || has_word({"l", "lt", "lft", "sin"});
  const bool right = compact.find("right") != std::string::npos || has_word({"r", "rt", "rgt", "dx"});

  std::string type = roi.interpreted_type;
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
  // The interpreted type first; without one, a name that starts like a target ("PTV_60").
  for (const Target& t : Targets()) {
    std::string lower(t.interpreted_type);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (type == t.interpreted_type || (type.empty() && compact.starts_with(lower))) {
      s.category = t.category;
      s.type = t.type;
      return s;
    }
  }
  if (type == "EXTERNAL" || compact == "body" || compact.starts_with("external")) {
    s.category = kAnatomy;
    s.type = {kEntireBody, "SCT", "Entire body"};
    return s;
  }
  for (const NamedConcept& c : NamedConcepts()) {
    if (compact.find(c.keyword) == std::string::npos) continue;
    // "LungL", "KidneyR": a side written straight after the organ.
    const std::string keyword(c.keyword);
    const bool is_left = left || compact.ends_with(keyword + "l");
    const bool is_right = right || compact.ends_with(keyword + "r");
    s.category = c.category;
    s.type = is_left != is_right && !c.left.code.empty() ? (is_left ? c.left : c.right) : c.type;
    return s;
  }
  return s;  // Anatomical Structure / Tissue (SegmentInfo's defaults)
}

}  // namespace
}  // namespace rtstruct_detail

Result<RtStructHeader> ReadRtStruct(std::string_view part10, const RtStructLimits& limits) {
  return rtstruct_detail::Read(part10, limits);
}

Result<RasterisedRois> RasteriseRtStruct(const RtStructHeader& rt, const VolumeGeometry& grid) {
  return rtstruct_detail::Rasterise(rt, grid);
}

std::vector<std::pair<std::int64_t, std::vector<std::array<double, 3>>>> ContoursOfLabel(const LabelVolume& labels,
                                                                                           std::uint8_t label) {
  return rtstruct_detail::Outlines(labels, label);
}

Result<std::string> WriteRtStruct(std::string_view source_part10, const Volume& source, const LabelVolume& labels,
                                  const std::vector<SegmentInfo>& segments, const RtStructWriteOptions& options) {
  return rtstruct_detail::Write(source_part10, source, labels, segments, options);
}

SegmentInfo SegmentOfRoi(const RoiContours& roi) { return rtstruct_detail::OfRoi(roi); }

}  // namespace vg::dicom
