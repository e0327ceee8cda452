import { UnreadableFileError } from '../../shared/errors.js';
import type { MediaInfo, ResourceType } from '../../shared/model.js';
import { reasonFrom, runProgram } from '../run-program.js';

/** What a video or audio file is, as displayed and played. */
export interface MediaProbe {
  type: Extract<ResourceType, 'video' | 'audio'>;
  /** Displayed size: sample aspect ratio and rotation applied. Null for audio. */
  width: number | null;
  height: number | null;
  /** Seconds; null when the container does not say (a raw stream). */
  duration: number | null;
  media: MediaInfo;
}

interface FfStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface FfOutput {
  streams?: FfStream[];
  format?: { format_name?: string; duration?: string; bit_rate?: string };
}

/**
 * ffprobe's view of a file: streams and container, nothing decoded beyond what it
 * needs to find them (its probe size is bounded). A file ffprobe cannot open, or with
 * neither a video nor an audio stream, is unreadable with ffprobe's reason.
 */
export async function probeMedia(file: string): Promise<MediaProbe> {
  const run = await runProgram('ffprobe', ['-v', 'error', '-hide_banner', '-print_format', 'json', '-show_format', '-show_streams', file], {
    timeoutMs: 30_000,
    maxStdoutBytes: 4 * 1024 * 1024,
  });
  let out: FfOutput;
  try {
    out = JSON.parse(run.stdout.toString('utf8') || '{}') as FfOutput;
  } catch {
    out = {};
  }
  if (run.code !== 0 || !out.streams) {
    throw new UnreadableFileError(`The file could not be read as video or audio (ffprobe: ${reasonFrom(run.stderr)}).`);
  }
  const streams = out.streams;
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1 && (s.width ?? 0) > 0);
  const cover = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic === 1);
  const audio = streams.find((s) => s.codec_type === 'audio');
  const sizeless = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video && !audio && sizeless) {
    throw new UnreadableFileError(
      `The video stream declares no size ffprobe can use (codec ${sizeless.codec_name ?? 'unknown'}, width ${sizeless.width ?? 'missing'}); its frames cannot be decoded within limits.`,
    );
  }
  if (!video && !audio) {
    const found = streams.map((s) => s.codec_type ?? 'unknown').join(', ') || 'none';
    throw new UnreadableFileError(`The file has no video or audio stream ffprobe can read (streams found: ${found}).`);
  }
  const duration = firstNumber(out.format?.duration, video?.duration, audio?.duration);
  const media: MediaInfo = {};
  if (out.format?.format_name) media.container = out.format.format_name;
  const bitRate = firstNumber(out.format?.bit_rate);
  if (bitRate) media.bitRate = Math.round(bitRate);
  if (audio) {
    if (audio.codec_name) media.audioCodec = audio.codec_name;
    const rate = firstNumber(audio.sample_rate);
    if (rate) media.sampleRate = rate;
    if (audio.channels) media.channels = audio.channels;
  }
  if (!video) {
    if (cover) media.coverArt = true;
    return { type: 'audio', width: null, height: null, duration: duration === null ? null : round3(duration), media };
  }
  if (video.codec_name) media.videoCodec = video.codec_name;
  const fps = rate(video.avg_frame_rate) ?? rate(video.r_frame_rate);
  if (fps) media.frameRate = round3(fps);
  const rotation = rotationOf(video);
  media.rotation = rotation;
  const sar = rate(video.sample_aspect_ratio?.replace(':', '/'));
  let w = video.width!;
  const h = video.height ?? 0;
  if (sar && sar > 0 && Math.abs(sar - 1) > 1e-3) w = Math.round(w * sar);
  if (!h)
    throw new UnreadableFileError(
      `The video stream declares no usable height (width ${video.width}, height ${video.height ?? 'missing'}).`,
    );
  const turned = rotation === 90 || rotation === 270;
  return { type: 'video', width: turned ? h : w, height: turned ? w : h, duration: duration === null ? null : round3(duration), media };
}

/** Clockwise degrees a player turns the frames: the display matrix (ffmpeg ≥ 5), else the old `rotate` tag. */
function rotationOf(s: FfStream): number {
  const matrix = s.side_data_list?.find((d) => typeof d.rotation === 'number');
  // The display matrix's rotation is counter-clockwise.
  const deg = matrix ? -matrix.rotation! : Number(s.tags?.rotate ?? 0);
  const norm = (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
  return Number.isFinite(norm) ? norm : 0;
}

function rate(r: string | undefined): number | undefined {
  if (!r) return undefined;
  const [n, d] = r.split('/').map(Number);
  if (!n || !Number.isFinite(n)) return undefined;
  const v = d === undefined ? n : d ? n / d : NaN;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function firstNumber(...xs: (string | undefined)[]): number | null {
  for (const x of xs) {
    const n = Number(x);
    if (x !== undefined && x !== 'N/A' && Number.isFinite(n) && n >= 0) return n;
  }
  return null;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
