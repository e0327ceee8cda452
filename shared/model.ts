/** The domain as clients see it (docs/architecture.md, "Domain"); field names are part of the API. */

export type DedupePolicy = 'reject' | 'reuse' | 'allow';
/** `missing`: an external library's file that is gone from its source (docs/external-libraries.md). */
export type ResourceStatus = 'processing' | 'ready' | 'failed' | 'missing';
/** What a resource is, which decides what processing gives it (docs/media-types.md). */
export type ResourceType = 'image' | 'video' | 'audio' | 'document' | 'file';
export type Visibility = 'private' | 'public';

export interface Library {
  id: number;
  name: string;
  dedupe: DedupePolicy;
  /**
   * Renditions pre-rendered at ingest: names of global presets (RENDITION_PRESETS) or
   * presets of its own. Empty means the global set.
   */
  presets: (string | RenditionPreset)[];
  /** Per-library upload limit in bytes; null means the global MAX_UPLOAD_BYTES. */
  maxUploadBytes: number | null;
  /** Where an external library's files are read in place; absent for a library fed by uploads. */
  source?: LibrarySource;
  created: string;
}

/**
 * An external library's source (docs/external-libraries.md): a folder under one of
 * EXTERNAL_ROOTS, or an S3 prefix. Credentials are kept, never shown (libraryView).
 */
export type LibrarySource =
  { type: 'fs'; path: string } | { type: 's3'; bucket: string; prefix: string; credentials?: { accessKey: string; secretKey: string } };

export type RenditionFit = 'cover' | 'contain' | 'fill' | 'inside' | 'outside';
export type RenditionFormat = 'webp' | 'jpeg' | 'png' | 'avif';

/** How one rendition is made. Its URL is `/image/{width}x{height}/{id}.{ext of format}`. */
export interface RenditionPreset {
  name: string;
  /** Box width; 0 keeps the aspect ratio from `height`. */
  width: number;
  /** Box height; 0 keeps the aspect ratio from `width`. */
  height: number;
  fit: RenditionFit;
  format: RenditionFormat;
  /** 1-100. */
  quality: number;
  /** Enlarge images smaller than the box; off by default. */
  upscale: boolean;
}

export interface Rendition {
  name: string;
  width: number;
  height: number;
  format: string;
  size: number;
  url: string;
}

export interface Resource {
  id: number;
  library: number;
  fileName: string;
  extension: string;
  mimeType: string;
  size: number;
  type: ResourceType;
  /** How it arrived: 'upload' for the native API; compat faces name themselves. */
  source: string;
  checksum: string;
  width: number | null;
  height: number | null;
  orientation: number | null;
  /** Seconds, for video and audio (ffprobe); null otherwise. */
  duration: number | null;
  /** Pages of a document (PDF, or an office document LibreOffice converted); null otherwise. */
  pageCount: number | null;
  /** Stream facts of video and audio (codec, frame rate…); null for other types. */
  media: MediaInfo | null;
  title: string | null;
  tags: string[];
  visibility: Visibility;
  created: string;
  modified: string;
  status: ResourceStatus;
  error: string | null;
  /** Machine-readable reason of a failure (an ErrorCode), so waiting clients get the right status. */
  errorCode: string | null;
  metadata: Record<string, unknown>;
  fields: Record<string, unknown>;
  /** What processing noticed but did not fail on (odd or corrupt metadata). Decoded records always have it ('[]' when none). */
  warnings?: string[];
  renditions: Rendition[];
  fileVersion: number;
  mappingsVersion: number;
  noExif: boolean;
  /** Object key of the original in storage. */
  storageKey: string;
  /** Public id of the job that processes the current file version. */
  jobId: string;
  /** Client content type, as sent; a hint only. */
  declaredType: string | null;
}

/** What ffprobe says of a video's or audio file's main streams. */
export interface MediaInfo {
  /** Video codec (ffprobe's name: h264, hevc, vp9, av1…); absent for audio. */
  videoCodec?: string;
  /** Frames per second of the video stream (average), rounded to 3 decimals. */
  frameRate?: number;
  /** Degrees the player turns the stored frames (0, 90, 180, 270); width/height are already turned. */
  rotation?: number;
  audioCodec?: string;
  sampleRate?: number;
  channels?: number;
  /** Bits per second of the whole file. */
  bitRate?: number;
  /** Container format (ffprobe's format_name). */
  container?: string;
  /** An audio file with embedded cover art: it is what its renditions show. */
  coverArt?: boolean;
}

/** The compact form kept in Redis: everything but the full metadata tag set. */
export type ResourceRecord = Omit<Resource, 'metadata'>;
