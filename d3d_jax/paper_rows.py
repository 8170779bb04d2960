"""The paper table rows this codebase claims to reproduce: the one list.

Each `PaperRow` is one number of one table: the paper, the table, the row as the paper
names it, the dataset column, the metric of ours that measures it (the key in
``WORKDIR/eval/metrics.json``) and the paper's number. An experiment config carries
the rows it reproduces as ``config.paper_rows`` (`section`: a copy of each row, keyed
by its id), so a finished workdir's ``run_config.json`` says which rows it measures,
and `python -m d3d_jax.tables` prints the tables from workdirs.

Adding a row: one line in `ROWS` below, and its id in the config's
``c.paper_rows = paper_rows.section(...)``. tests/test_paper_rows.py checks that every
row here is carried by a config and that every config's rows are these.

Rows not claimed (no config reproduces them): D3D Table 2 "D3D+S3D-G" and Liu Tables
2-3 late-fusion rows (ensembles, evaluated with `evaluation.evaluate_members`, no
workdir of their own), D3D Tables 3-5 (Kinetics-600, UCF-101 / HMDB-51 fine-tuning,
AVA), D3D Table 1 "All zeros" (the `flow_epe_zeros` bracket of every probe), Wang Table 2 (THUMOS14 detection), W3 Table 6
"+NL", Table 8 TAM rows, and the top-5 numbers (top-1 / mean class accuracy only).
"""

import dataclasses

import ml_collections

PAPERS = {
    "d3d": "D3D (Stroud et al., WACV 2020)",
    "liu": "Attention Distillation (Liu et al., BMVC 2020)",
    "wang": "Generative feature KD (Wang et al., AAAI 2024)",
    "w3": "W3 attention (Perez-Rua et al., ECCV 2020)",
}
# Classes of each dataset column: a run whose input.num_classes is set to another count
# (the Liu configs switch datasets by flags) does not measure that column's row.
DATASET_CLASSES = {"Kinetics-400": 400, "UCF101": 101, "HMDB51": 51, "EGTEA": 106,
                   "SSv2": 174, "SSv1": 174}
# Metrics that the papers report in percent and ours as fractions.
PERCENT_METRICS = ("top1", "top5", "mean_class_accuracy")


@dataclasses.dataclass(frozen=True)
class PaperRow:
  """One claimed number of a paper's table."""

  id: str        # unique; the key in config.paper_rows
  paper: str     # a key of PAPERS
  table: str     # the table's number in the paper
  row: str       # the row as the paper names it
  column: str    # the dataset (a key of DATASET_CLASSES)
  metric: str    # our metric in eval/metrics.json
  number: float  # the paper's number (percent for PERCENT_METRICS)
  note: str = ""

  def scale(self) -> float:
    """Factor from our metric to the paper's unit."""
    return 100.0 if self.metric.startswith(PERCENT_METRICS) else 1.0


_K400 = "top1@fullx1"           # whole video, centre crop (D3D's S3D-G protocol)
_EPE = "flow_epe/MaxPool3d_3a_3x3"
_LIU_MCA = "mean_class_accuracy@10x3"
_SSV2 = "top1@4x3"
_WANG = "top1@1x1"
_W3 = "top1@1x1"
_R18 = "the paper's I3D is a 3-D ResNet-18; ours is the Inception-v1 I3D"

ROWS = {row.id: row for row in (
    # D3D: Kinetics-400, the reduced validation set of October 2018 (Sec. 5.1).
    PaperRow("d3d_t1_simple_rgb", "d3d", "1", "Simple, RGB", "Kinetics-400", _EPE, 2.93),
    PaperRow("d3d_t1_spatial_rgb", "d3d", "1", "Spatial, RGB", "Kinetics-400", _EPE, 2.34),
    PaperRow("d3d_t1_pwc_rgb", "d3d", "1", "PWC, RGB", "Kinetics-400", _EPE, 2.08),
    PaperRow("d3d_t1_pwc_flow", "d3d", "1", "PWC, Flow", "Kinetics-400", _EPE, 0.63),
    PaperRow("d3d_t2_s3dg_rgb", "d3d", "2", "S3D-G RGB", "Kinetics-400", _K400, 74.0),
    PaperRow("d3d_t2_s3dg_flow", "d3d", "2", "S3D-G Flow", "Kinetics-400", _K400, 67.3),
    PaperRow("d3d_t2_d3d", "d3d", "2", "D3D", "Kinetics-400", _K400, 75.9),
    PaperRow("d3d_t6_s3dg", "d3d", "6", "S3D-G", "Kinetics-400", _K400, 74.0),
    PaperRow("d3d_t6_temporal", "d3d", "6", "S3D-G temporal stream", "Kinetics-400", _K400,
             67.3),
    PaperRow("d3d_t6_flow_loss", "d3d", "6", "S3D-G with flow loss", "Kinetics-400", _K400,
             74.3),
    PaperRow("d3d_t6_cnn_flow", "d3d", "6", "S3D-G with 3D CNN flow", "Kinetics-400",
             _K400, 69.7),
    PaperRow("d3d_t6_layer2c", "d3d", "6", "D3D distilled at layer 2C", "Kinetics-400",
             _K400, 74.4),
    PaperRow("d3d_t6_layer4c", "d3d", "6", "D3D distilled at layer 4C", "Kinetics-400",
             _K400, 74.5),
    PaperRow("d3d_t6_layer4f", "d3d", "6", "D3D distilled at layer 4F", "Kinetics-400",
             _K400, 74.8),
    PaperRow("d3d_t6_no_action_loss", "d3d", "6", "D3D without action loss", "Kinetics-400",
             _K400, 58.8),
    PaperRow("d3d_t6_spatial_teacher", "d3d", "6", "D3D distilled from spatial stream",
             "Kinetics-400", _K400, 74.3),
    PaperRow("d3d_t6_d3d", "d3d", "6", "D3D", "Kinetics-400", _K400, 75.9),
    # Liu: Table 1 (split 1 of each dataset, mean class accuracy), Table 2, Table 3 (SSv2).
    PaperRow("liu_t1_i3d_rgb_ucf101", "liu", "1", "RGB I3D", "UCF101", _LIU_MCA, 94.8),
    PaperRow("liu_t1_i3d_rgb_hmdb51", "liu", "1", "RGB I3D", "HMDB51", _LIU_MCA, 70.9),
    PaperRow("liu_t1_i3d_rgb_egtea", "liu", "1", "RGB I3D", "EGTEA", _LIU_MCA, 47.3),
    PaperRow("liu_t1_i3d_flow_ucf101", "liu", "1", "Flow I3D", "UCF101", _LIU_MCA, 94.0),
    PaperRow("liu_t1_i3d_flow_hmdb51", "liu", "1", "Flow I3D", "HMDB51", _LIU_MCA, 73.9),
    PaperRow("liu_t1_i3d_flow_egtea", "liu", "1", "Flow I3D", "EGTEA", _LIU_MCA, 38.3),
    PaperRow("liu_t1_soft_atten_rgb_ucf101", "liu", "1", "RGB Soft-Atten", "UCF101",
             _LIU_MCA, 94.7),
    PaperRow("liu_t1_soft_atten_rgb_hmdb51", "liu", "1", "RGB Soft-Atten", "HMDB51",
             _LIU_MCA, 70.8),
    PaperRow("liu_t1_soft_atten_rgb_egtea", "liu", "1", "RGB Soft-Atten", "EGTEA",
             _LIU_MCA, 48.6),
    PaperRow("liu_t1_soft_atten_flow_ucf101", "liu", "1", "Flow Soft-Atten", "UCF101",
             _LIU_MCA, 94.7),
    PaperRow("liu_t1_soft_atten_flow_hmdb51", "liu", "1", "Flow Soft-Atten", "HMDB51",
             _LIU_MCA, 74.1),
    PaperRow("liu_t1_soft_atten_flow_egtea", "liu", "1", "Flow Soft-Atten", "EGTEA",
             _LIU_MCA, 39.1),
    PaperRow("liu_t1_soft_res_rgb_ucf101", "liu", "1", "RGB Soft-Res", "UCF101", _LIU_MCA,
             94.9),
    PaperRow("liu_t1_soft_res_rgb_hmdb51", "liu", "1", "RGB Soft-Res", "HMDB51", _LIU_MCA,
             70.1),
    PaperRow("liu_t1_soft_res_rgb_egtea", "liu", "1", "RGB Soft-Res", "EGTEA", _LIU_MCA,
             48.6),
    PaperRow("liu_t1_soft_res_flow_ucf101", "liu", "1", "Flow Soft-Res", "UCF101",
             _LIU_MCA, 95.2),
    PaperRow("liu_t1_soft_res_flow_hmdb51", "liu", "1", "Flow Soft-Res", "HMDB51",
             _LIU_MCA, 74.4),
    PaperRow("liu_t1_soft_res_flow_egtea", "liu", "1", "Flow Soft-Res", "EGTEA", _LIU_MCA,
             39.5),
    PaperRow("liu_t1_prob_atten_rgb_ucf101", "liu", "1", "RGB Prob-Atten", "UCF101",
             _LIU_MCA, 95.1),
    PaperRow("liu_t1_prob_atten_rgb_hmdb51", "liu", "1", "RGB Prob-Atten", "HMDB51",
             _LIU_MCA, 71.3),
    PaperRow("liu_t1_prob_atten_rgb_egtea", "liu", "1", "RGB Prob-Atten", "EGTEA",
             _LIU_MCA, 49.1),
    PaperRow("liu_t1_prob_atten_flow_ucf101", "liu", "1", "Flow Prob-Atten", "UCF101",
             _LIU_MCA, 94.9),
    PaperRow("liu_t1_prob_atten_flow_hmdb51", "liu", "1", "Flow Prob-Atten", "HMDB51",
             _LIU_MCA, 74.2),
    PaperRow("liu_t1_prob_atten_flow_egtea", "liu", "1", "Flow Prob-Atten", "EGTEA",
             _LIU_MCA, 40.4),
    PaperRow("liu_t2_prob_distill_ucf101", "liu", "2", "Ours (Prob-Distill)", "UCF101",
             _LIU_MCA, 95.7),
    PaperRow("liu_t2_prob_distill_hmdb51", "liu", "2", "Ours (Prob-Distill)", "HMDB51",
             _LIU_MCA, 72.0),
    PaperRow("liu_t3_i3d_rgb", "liu", "3", "I3D RGB", "SSv2", _SSV2, 47.3),
    PaperRow("liu_t3_i3d_flow", "liu", "3", "I3D Flow", "SSv2", _SSV2, 46.7),
    PaperRow("liu_t3_prob_distill", "liu", "3", "Ours (Prob-Distill)", "SSv2", _SSV2, 49.9),
    # Wang: split 1, one centre crop of one 64-frame clip.
    PaperRow("wang_t1_teacher_ucf101", "wang", "1", "Teacher", "UCF101", _WANG, 91.9),
    PaperRow("wang_t1_student_ucf101", "wang", "1", "Student", "UCF101", _WANG, 64.1),
    PaperRow("wang_t1_kd_ucf101", "wang", "1", "KD", "UCF101", _WANG, 65.2),
    PaperRow("wang_t1_at_ucf101", "wang", "1", "AT", "UCF101", _WANG, 66.2),
    PaperRow("wang_t1_ours_ucf101", "wang", "1", "Ours", "UCF101", _WANG, 66.6),
    PaperRow("wang_t1_teacher_hmdb51", "wang", "1", "Teacher", "HMDB51", _WANG, 69.0),
    PaperRow("wang_t1_student_hmdb51", "wang", "1", "Student", "HMDB51", _WANG, 52.0),
    PaperRow("wang_t1_kd_hmdb51", "wang", "1", "KD", "HMDB51", _WANG, 53.1),
    PaperRow("wang_t1_at_hmdb51", "wang", "1", "AT", "HMDB51", _WANG, 52.9),
    PaperRow("wang_t1_ours_hmdb51", "wang", "1", "Ours", "HMDB51", _WANG, 54.5),
    PaperRow("wang_t3_baseline", "wang", "3", "baseline", "UCF101", _WANG, 64.1),
    PaperRow("wang_t3_recon", "wang", "3", "+L_recon", "UCF101", _WANG, 65.2),
    PaperRow("wang_t3_recon_kd_cvae", "wang", "3", "+L_recon +L_KD-cvae", "UCF101", _WANG,
             66.2),
    PaperRow("wang_t3_recon_kd_att", "wang", "3", "+L_recon +L_KD-att", "UCF101", _WANG,
             66.1),
    PaperRow("wang_t3_all", "wang", "3", "all terms", "UCF101", _WANG, 66.6),
    PaperRow("wang_t4_i3d", "wang", "4", "I3D", "UCF101", _WANG, 91.9),
    PaperRow("wang_t4_i3d_att", "wang", "4", "I3D+Att", "UCF101", _WANG, 92.4),
    PaperRow("wang_t4_top_i3d", "wang", "4", "Top-I3D", "UCF101", _WANG, 64.1),
    PaperRow("wang_t4_top_i3d_att", "wang", "4", "Top-I3D+Att", "UCF101", _WANG, 64.7),
    PaperRow("wang_t5_top_i3d", "wang", "5", "Top-I3D", "UCF101", _WANG, 64.1),
    PaperRow("wang_t5_top_i3d_ours", "wang", "5", "Top-I3D+Ours", "UCF101", _WANG, 66.2),
    PaperRow("wang_t5_bottom_i3d", "wang", "5", "Bottom-I3D", "UCF101", _WANG, 52.7),
    PaperRow("wang_t5_bottom_i3d_ours", "wang", "5", "Bottom-I3D+Ours", "UCF101", _WANG,
             53.3),
    PaperRow("wang_t5_i2d", "wang", "5", "I2D", "UCF101", _WANG, 52.2),
    PaperRow("wang_t5_i2d_ours", "wang", "5", "I2D+Ours", "UCF101", _WANG, 58.6),
    # W3: Something-Something V1, 1 clip, centre crop.
    PaperRow("w3_t5_full", "w3", "5", "Full", "SSv1", _W3, 52.6),
    PaperRow("w3_t5_wo_mfr", "w3", "5", "w/o MFR", "SSv1", _W3, 50.3),
    PaperRow("w3_t5_wo_afr", "w3", "5", "w/o AFR", "SSv1", _W3, 50.1),
    PaperRow("w3_t5_wo_sa", "w3", "5", "w/o SA", "SSv1", _W3, 49.8,
             note="the extracted table reads 19.8; the text implies 49.8"),
    PaperRow("w3_t5_wo_ta", "w3", "5", "w/o TA", "SSv1", _W3, 47.2),
    PaperRow("w3_t6_tsm", "w3", "6", "TSM", "SSv1", _W3, 47.2),
    PaperRow("w3_t6_cbam", "w3", "6", "+CBAM", "SSv1", _W3, 49.1),
    PaperRow("w3_t6_w3", "w3", "6", "+W3", "SSv1", _W3, 52.6),
    PaperRow("w3_t7_tsm", "w3", "7", "TSM", "SSv1", _W3, 47.2),
    PaperRow("w3_t7_cbam", "w3", "7", "+ CBAM", "SSv1", _W3, 49.1),
    PaperRow("w3_t7_cbam_mfr", "w3", "7", "+ CBAM w/ MFR", "SSv1", _W3, 50.5),
    PaperRow("w3_t7_w3_wo_mfr", "w3", "7", "+ W3 w/o MFR", "SSv1", _W3, 50.2),
    PaperRow("w3_t7_w3", "w3", "7", "+ W3", "SSv1", _W3, 52.6),
    PaperRow("w3_t8_tsm_8f", "w3", "8", "TSM, R50, 8 frames", "SSv1", _W3, 46.2),
    PaperRow("w3_t8_tsm_w3_8f", "w3", "8", "TSM+W3 w/o MFR, R50, 8 frames", "SSv1", _W3,
             47.2),
    PaperRow("w3_t8_i3d_32f", "w3", "8", "I3D, 32 frames", "SSv1", _W3, 34.9, note=_R18),
    PaperRow("w3_t8_i3d_w3_32f", "w3", "8", "I3D+W3 w/o MFR, 32 frames", "SSv1", _W3, 35.3,
             note=_R18),
    PaperRow("w3_t8_i3d_64f", "w3", "8", "I3D, 64 frames", "SSv1", _W3, 36.4, note=_R18),
    PaperRow("w3_t8_i3d_w3_64f", "w3", "8", "I3D+W3 w/o MFR, 64 frames", "SSv1", _W3, 36.6,
             note=_R18),
)}


def section(*row_ids: str) -> ml_collections.ConfigDict:
  """``config.paper_rows``: a copy of each named row, keyed by its id."""
  unknown = [i for i in row_ids if i not in ROWS]
  if unknown:
    raise ValueError(f"paper rows {unknown} are not in d3d_jax/paper_rows.py ROWS")
  return ml_collections.ConfigDict({
      i: {k: v for k, v in dataclasses.asdict(ROWS[i]).items() if k != "id"}
      for i in row_ids})


def rows_of_settings(settings: dict) -> list[PaperRow]:
  """The rows a run's flattened config (``run_config.json`` settings) carries."""
  fields = {}
  for key, value in settings.items():
    if key.startswith("paper_rows."):
      row_id, _, name = key[len("paper_rows."):].rpartition(".")
      fields.setdefault(row_id, {})[name] = value
  return [PaperRow(id=row_id, **{f.name: values.get(f.name, f.default)
                                 for f in dataclasses.fields(PaperRow) if f.name != "id"})
          for row_id, values in sorted(fields.items())]
