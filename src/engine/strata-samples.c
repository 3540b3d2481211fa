/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "strata-samples.h"
#include "strata-vmdk-write.h"
#include "strata-create.h"
#include "strata-error.h"
#include "strata-file.h"
#include "strata-image.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/*
 * The samples' guest data is described as a list of writes ("extents") per layer, built in
 * memory (a few MiB). The same description writes the images and, for tests, the raw files
 * they must read as. The content is meant to be recognisable by tools a user has at hand
 * (`file -s`, fdisk, strings): a protective MBR and a GPT, an ext2 superblock, directory
 * blocks in ext2's format, text files, and binary-looking program data.
 */

#define SECTOR 512ull
#define MiB (1024ull * 1024)
#define FS_BLOCK 4096ull

#define BASE_NAME "debian-base.qcow2"
#define VMDK_NAME "appliance.vmdk"

static const char * const sample_names[] = {
  BASE_NAME, "vm01.qcow2", "vm02.qcow2", "vm03.qcow2", VMDK_NAME, NULL
};

typedef struct
{
  guint64 offset;
  GBytes *data;
} Extent;

typedef struct
{
  guint64    size;    /* virtual size */
  GArray    *extents; /* Extent, applied in order */
  guint64    fs_start; /* byte offset of the file system */
} Layer;

static void
extent_clear (gpointer p)
{
  Extent *e = p;

  g_bytes_unref (e->data);
}

static Layer *
layer_new (guint64 size)
{
  Layer *l = g_new0 (Layer, 1);

  l->size = size;
  l->extents = g_array_new (FALSE, FALSE, sizeof (Extent));
  g_array_set_clear_func (l->extents, extent_clear);
  return l;
}

static void
layer_free (Layer *l)
{
  g_array_unref (l->extents);
  g_free (l);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Layer, layer_free)

static void
layer_add (Layer      *l,
           guint64     offset,
           const void *data,
           gsize       len)
{
  Extent e = { offset, g_bytes_new (data, len) };

  g_assert (offset + len <= l->size);
  g_array_append_val (l->extents, e);
}

static void
layer_add_string (Layer      *l,
                  guint64     offset,
                  const char *text)
{
  layer_add (l, offset, text, strlen (text));
}

/* A file system block of the layer's ext2-like file system. */
static guint64
fs_block (Layer  *l,
          guint64 n)
{
  return l->fs_start + n * FS_BLOCK;
}

static void
put16 (guint8 *p, guint16 v)
{
  p[0] = v; p[1] = v >> 8;
}

static void
put32 (guint8 *p, guint32 v)
{
  put16 (p, v); put16 (p + 2, v >> 16);
}

static void
put64 (guint8 *p, guint64 v)
{
  put32 (p, v); put32 (p + 4, v >> 32);
}

/* A deterministic generator, so that tests can rebuild the expected content. */
static guint32
xorshift (guint32 *state)
{
  guint32 x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

/* "Program" data: an ELF-looking header followed by bytes that do not compress much. */
static void
add_binary (Layer   *l,
            guint64  offset,
            gsize    len,
            guint32  seed)
{
  g_autofree guint8 *buf = g_malloc (len);
  static const guint8 elf[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0 };

  for (gsize i = 0; i < len; i += 4)
    {
      guint32 v = xorshift (&seed);

      /* Keep some redundancy, as machine code has. */
      if ((v & 7) == 0)
        v = 0;
      memcpy (buf + i, &v, MIN (4, len - i));
    }
  memcpy (buf, elf, sizeof elf);
  layer_add (l, offset, buf, len);
}

/* A text file of about @len bytes: Debian's package status file. */
static void
add_dpkg_status (Layer   *l,
                 guint64  offset,
                 gsize    len,
                 guint    revision)
{
  static const char * const names[] = {
    "adduser", "apt", "base-files", "bash", "coreutils", "dash", "debconf", "diffutils",
    "dpkg", "e2fsprogs", "findutils", "gcc-12-base", "grep", "gzip", "hostname", "init",
    "libc6", "libssl3", "login", "mount", "ncurses-base", "openssh-server", "passwd", "perl",
    "sed", "systemd", "tar", "tzdata", "util-linux", "zlib1g",
  };
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; s->len < len; i++)
    g_string_append_printf (s,
                            "Package: %s%s%u\nStatus: install ok installed\n"
                            "Priority: optional\nSection: admin\nInstalled-Size: %u\n"
                            "Maintainer: Debian Developers <debian-devel@lists.debian.org>\n"
                            "Architecture: amd64\nVersion: %u.%u.%u-%u\n"
                            "Description: sample package %u of the Strata sample image\n\n",
                            names[i % G_N_ELEMENTS (names)], i < G_N_ELEMENTS (names) ? "" : "-",
                            i < G_N_ELEMENTS (names) ? 0 : i, 100 + (i * 37) % 4000,
                            1 + i % 5, i % 13, i % 7, revision + i % 3, i);
  g_string_truncate (s, len);
  layer_add (l, offset, s->str, s->len);
}

/* A system log of about @len bytes from @host. */
static void
add_syslog (Layer      *l,
            guint64     offset,
            gsize       len,
            const char *host)
{
  static const char * const units[] = {
    "systemd[1]: Started Daily apt download activities.",
    "systemd[1]: Starting Cleanup of Temporary Directories...",
    "sshd[612]: Server listening on 0.0.0.0 port 22.",
    "kernel: EXT4-fs (vda1): mounted filesystem with ordered data mode.",
    "cron[540]: (CRON) INFO (Running @reboot jobs)",
    "systemd-timesyncd[402]: Initial clock synchronization.",
  };
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; s->len < len; i++)
    g_string_append_printf (s, "Dec  1 %02u:%02u:%02u %s %s\n", 8 + i / 3600 % 12,
                            i / 60 % 60, i % 60, host, units[i % G_N_ELEMENTS (units)]);
  g_string_truncate (s, len);
  layer_add (l, offset, s->str, s->len);
}

/* One directory block in ext2's format: entries of (inode, name, type). */
typedef struct
{
  guint32     inode;
  const char *name;
  guint8      type; /* 1 file, 2 directory */
} DirEntry;

static void
add_directory (Layer          *l,
               guint64         block,
               const DirEntry *entries,
               guint           n)
{
  guint8 buf[FS_BLOCK] = { 0 };
  gsize pos = 0;

  for (guint i = 0; i < n; i++)
    {
      gsize name_len = strlen (entries[i].name);
      gsize rec_len = (8 + name_len + 3) & ~3u;

      if (i == n - 1)
        rec_len = FS_BLOCK - pos;
      put32 (buf + pos, entries[i].inode);
      put16 (buf + pos + 4, rec_len);
      buf[pos + 6] = name_len;
      buf[pos + 7] = entries[i].type;
      memcpy (buf + pos + 8, entries[i].name, name_len);
      pos += rec_len;
    }
  layer_add (l, fs_block (l, block), buf, sizeof buf);
}

static void
add_ext2_superblock (Layer      *l,
                     guint64     fs_bytes,
                     const char *volume_name,
                     guint32     uuid_seed)
{
  guint8 sb[1024] = { 0 };
  guint32 blocks = fs_bytes / FS_BLOCK;
  guint32 groups = (blocks + 32767) / 32768;

  put32 (sb + 0, groups * 8192);      /* inodes */
  put32 (sb + 4, blocks);
  put32 (sb + 8, blocks / 20);        /* reserved for root */
  put32 (sb + 12, blocks - 4096);     /* free blocks */
  put32 (sb + 16, groups * 8192 - 40);
  put32 (sb + 20, 0);                 /* first data block (4 KiB blocks) */
  put32 (sb + 24, 2);                 /* log2 (block size) - 10 */
  put32 (sb + 28, 2);
  put32 (sb + 32, 32768);             /* blocks per group */
  put32 (sb + 36, 32768);
  put32 (sb + 40, 8192);              /* inodes per group */
  put32 (sb + 44, 1796112000);        /* mount time */
  put32 (sb + 48, 1796112000);        /* write time */
  put16 (sb + 52, 3);
  put16 (sb + 54, 0xffff);
  put16 (sb + 56, 0xef53);            /* magic */
  put16 (sb + 58, 1);                 /* clean */
  put16 (sb + 60, 1);                 /* continue on errors */
  put32 (sb + 64, 1796112000);
  put32 (sb + 76, 1);                 /* dynamic revision */
  put32 (sb + 84, 11);                /* first inode */
  put16 (sb + 88, 256);               /* inode size */
  put32 (sb + 96, 0x2);               /* incompat: filetype */
  put32 (sb + 100, 0x1);              /* ro_compat: sparse_super */
  for (guint i = 0; i < 16; i++)
    sb[104 + i] = xorshift (&uuid_seed);
  sb[104 + 6] = (sb[104 + 6] & 0x0f) | 0x40;
  sb[104 + 8] = (sb[104 + 8] & 0x3f) | 0x80;
  strncpy ((char *) sb + 120, volume_name, 16);
  strcpy ((char *) sb + 136, "/");
  layer_add (l, l->fs_start + 1024, sb, sizeof sb);
}

static void
gpt_header (guint8       *sector,
            guint64       current,
            guint64       backup,
            guint64       entries_lba,
            guint64       last_usable,
            const guint8 *disk_guid,
            guint32       entries_crc)
{
  memset (sector, 0, SECTOR);
  memcpy (sector, "EFI PART", 8);
  put32 (sector + 8, 0x00010000);
  put32 (sector + 12, 92);
  put64 (sector + 24, current);
  put64 (sector + 32, backup);
  put64 (sector + 40, 34);
  put64 (sector + 48, last_usable);
  memcpy (sector + 56, disk_guid, 16);
  put64 (sector + 72, entries_lba);
  put32 (sector + 80, 128);
  put32 (sector + 84, 128);
  put32 (sector + 88, entries_crc);
  put32 (sector + 16, crc32 (0, sector, 92));
}

/* A protective MBR, a GPT (primary and backup) with one Linux partition from 1 MiB. Returns
 * the partition's size in bytes. */
static guint64
add_gpt (Layer      *l,
         const char *part_name)
{
  /* 0FC63DAF-8483-4772-8E79-3D69D8E47DE4, "Linux filesystem data", mixed-endian. */
  static const guint8 linux_fs[16] = {
    0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
    0x8e, 0x79, 0x3d, 0x69, 0xd8, 0xe4, 0x7d, 0xe4,
  };
  static const guint8 disk_guid[16] = {
    0x53, 0x74, 0x72, 0x61, 0x74, 0x61, 0x20, 0x40,
    0x90, 0x0d, 0x53, 0x61, 0x6d, 0x70, 0x6c, 0x65,
  };
  static const guint8 part_guid[16] = {
    0x0b, 0x1e, 0xc7, 0x5a, 0x3e, 0x24, 0x41, 0x4e,
    0xa1, 0x5f, 0x70, 0x61, 0x72, 0x74, 0x30, 0x31,
  };
  guint64 sectors = l->size / SECTOR;
  guint64 last = sectors - 1;
  guint64 last_usable = last - 33;
  guint64 part_end = (last_usable + 1) / 2048 * 2048 - 1;
  guint8 mbr[SECTOR] = { 0 };
  g_autofree guint8 *entries = g_malloc0 (128 * 128);
  guint8 header[SECTOR];
  guint32 entries_crc;

  mbr[446 + 1] = 0x00; mbr[446 + 2] = 0x02; mbr[446 + 3] = 0x00;
  mbr[446 + 4] = 0xee;
  mbr[446 + 5] = 0xff; mbr[446 + 6] = 0xff; mbr[446 + 7] = 0xff;
  put32 (mbr + 446 + 8, 1);
  put32 (mbr + 446 + 12, MIN (sectors - 1, 0xffffffffull));
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  layer_add (l, 0, mbr, sizeof mbr);

  memcpy (entries, linux_fs, 16);
  memcpy (entries + 16, part_guid, 16);
  put64 (entries + 32, 2048);
  put64 (entries + 40, part_end);
  for (guint i = 0; part_name[i] != '\0' && i < 36; i++)
    entries[56 + 2 * i] = part_name[i];
  entries_crc = crc32 (0, entries, 128 * 128);

  gpt_header (header, 1, last, 2, last_usable, disk_guid, entries_crc);
  layer_add (l, SECTOR, header, SECTOR);
  layer_add (l, 2 * SECTOR, entries, 128 * 128);
  layer_add (l, (last - 32) * SECTOR, entries, 128 * 128);
  gpt_header (header, last, 1, last - 32, last_usable, disk_guid, entries_crc);
  layer_add (l, last * SECTOR, header, SECTOR);

  l->fs_start = 2048 * SECTOR;
  return (part_end - 2048 + 1) * SECTOR;
}

/* A DOS partition table with one Linux partition from 1 MiB (the appliance). */
static guint64
add_mbr (Layer *l)
{
  guint8 mbr[SECTOR] = { 0 };
  guint64 sectors = l->size / SECTOR;

  put32 (mbr + 440, 0x5354524b);       /* disk signature */
  mbr[446] = 0x80;                     /* bootable */
  mbr[446 + 4] = 0x83;                 /* Linux */
  put32 (mbr + 446 + 8, 2048);
  put32 (mbr + 446 + 12, sectors - 2048);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  layer_add (l, 0, mbr, sizeof mbr);
  l->fs_start = 2048 * SECTOR;
  return (sectors - 2048) * SECTOR;
}

/* Blocks of the file system where things live (shared by the base and its overlays). */
enum
{
  BLK_ROOT = 64, BLK_ETC, BLK_HOME, BLK_USER, BLK_VAR_LOG,
  BLK_OS_RELEASE = 128, BLK_HOSTNAME, BLK_FSTAB, BLK_PASSWD, BLK_MOTD, BLK_NOTES,
  BLK_DPKG_STATUS = 1024,   /* 1.5 MiB of text */
  BLK_USR_BIN = 2048,       /* 2.5 MiB of programs */
  BLK_SYSLOG = 8192,        /* written by the overlays */
  BLK_NEW_PROGRAMS = 16384, /* written by vm03 */
};

static void
add_common_files (Layer      *l,
                  const char *hostname,
                  const char *pretty)
{
  g_autofree char *os_release =
    g_strdup_printf ("PRETTY_NAME=\"%s\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
                     "VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n"
                     "HOME_URL=\"https://www.debian.org/\"\n", pretty);
  g_autofree char *host = g_strdup_printf ("%s\n", hostname);
  g_autofree char *motd =
    g_strdup_printf ("\nThis is %s, a sample disk written by Strata.\n"
                     "Every overlay of a base starts empty and stores only what it changes.\n\n",
                     hostname);

  layer_add_string (l, fs_block (l, BLK_OS_RELEASE), os_release);
  layer_add_string (l, fs_block (l, BLK_HOSTNAME), host);
  layer_add_string (l, fs_block (l, BLK_FSTAB),
                    "# /etc/fstab: static file system information.\n"
                    "# <file system> <mount point> <type> <options> <dump> <pass>\n"
                    "/dev/vda1  /  ext2  errors=remount-ro  0  1\n"
                    "tmpfs  /tmp  tmpfs  defaults  0  0\n");
  layer_add_string (l, fs_block (l, BLK_PASSWD),
                    "root:x:0:0:root:/root:/bin/bash\n"
                    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                    "sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n"
                    "user:x:1000:1000:Sample User,,,:/home/user:/bin/bash\n");
  layer_add_string (l, fs_block (l, BLK_MOTD), motd);
}

static void
add_tree (Layer *l)
{
  static const DirEntry root[] = {
    { 2, ".", 2 }, { 2, "..", 2 }, { 11, "lost+found", 2 }, { 12, "etc", 2 },
    { 13, "home", 2 }, { 14, "usr", 2 }, { 15, "var", 2 }, { 16, "tmp", 2 },
  };
  static const DirEntry etc[] = {
    { 12, ".", 2 }, { 2, "..", 2 }, { 20, "os-release", 1 }, { 21, "hostname", 1 },
    { 22, "fstab", 1 }, { 23, "passwd", 1 }, { 24, "motd", 1 },
  };
  static const DirEntry home[] = { { 13, ".", 2 }, { 2, "..", 2 }, { 30, "user", 2 } };
  static const DirEntry user[] = {
    { 30, ".", 2 }, { 13, "..", 2 }, { 31, ".bashrc", 1 }, { 32, "notes.txt", 1 },
  };
  static const DirEntry var_log[] = {
    { 40, ".", 2 }, { 15, "..", 2 }, { 41, "syslog", 1 }, { 42, "dpkg.log", 1 },
  };

  add_directory (l, BLK_ROOT, root, G_N_ELEMENTS (root));
  add_directory (l, BLK_ETC, etc, G_N_ELEMENTS (etc));
  add_directory (l, BLK_HOME, home, G_N_ELEMENTS (home));
  add_directory (l, BLK_USER, user, G_N_ELEMENTS (user));
  add_directory (l, BLK_VAR_LOG, var_log, G_N_ELEMENTS (var_log));
}

static Layer *
build_base (void)
{
  Layer *l = layer_new (1024 * MiB);
  guint64 fs_bytes = add_gpt (l, "debian-root");

  add_ext2_superblock (l, fs_bytes, "debian-root", 0x5eed0001);
  add_tree (l);
  add_common_files (l, "debian", "Debian GNU/Linux 12 (bookworm)");
  add_dpkg_status (l, fs_block (l, BLK_DPKG_STATUS), 3 * MiB / 2, 1);
  for (guint i = 0; i < 10; i++)
    add_binary (l, fs_block (l, BLK_USR_BIN) + i * 256 * 1024, 256 * 1024, 0xb1a0 + i);
  return l;
}

/* The overlays differ in how much they write: vm01 a few KiB, vm02 about 1 MiB, vm03 about
 * 8 MiB, over and around what the base holds. */
static Layer *
build_overlay (guint n)
{
  Layer *l = layer_new (1024 * MiB);
  g_autofree char *host = g_strdup_printf ("vm%02u", n);
  g_autofree char *hostname = g_strdup_printf ("%s\n", host);
  g_autofree char *notes =
    g_strdup_printf ("Notes of %s\n\n- cloned from debian-base.qcow2\n- %s\n", host,
                     n == 1 ? "only the host name changed so far"
                            : n == 2 ? "logs collected for a week" : "upgraded and new tools");

  l->fs_start = 2048 * SECTOR;
  layer_add_string (l, fs_block (l, BLK_HOSTNAME), hostname);
  layer_add_string (l, fs_block (l, BLK_NOTES), notes);
  if (n == 1)
    {
      add_syslog (l, fs_block (l, BLK_SYSLOG), 16 * 1024, host);
      return l;
    }
  add_syslog (l, fs_block (l, BLK_SYSLOG), n == 2 ? 1 * MiB : 2 * MiB, host);
  if (n == 3)
    {
      /* An upgrade: half the package list rewritten, new programs installed. */
      add_dpkg_status (l, fs_block (l, BLK_DPKG_STATUS), 3 * MiB / 4, 2);
      for (guint i = 0; i < 20; i++)
        add_binary (l, fs_block (l, BLK_NEW_PROGRAMS) + i * 256 * 1024, 256 * 1024,
                    0xc0de + i);
    }
  return l;
}

static Layer *
build_appliance (void)
{
  Layer *l = layer_new (64 * MiB);
  guint64 fs_bytes = add_mbr (l);

  add_ext2_superblock (l, fs_bytes, "appliance", 0x5eed0002);
  add_tree (l);
  add_common_files (l, "appliance", "Debian GNU/Linux 12 (bookworm) appliance");
  add_syslog (l, fs_block (l, BLK_SYSLOG), 128 * 1024, "appliance");
  for (guint i = 0; i < 2; i++)
    add_binary (l, fs_block (l, BLK_USR_BIN) + i * 256 * 1024, 256 * 1024, 0xa99 + i);
  return l;
}

static gboolean
write_layer (StrataImage   *image,
             Layer         *l,
             GCancellable  *cancellable,
             GError       **error)
{
  for (guint i = 0; i < l->extents->len; i++)
    {
      Extent *e = &g_array_index (l->extents, Extent, i);
      gsize len;
      const void *data = g_bytes_get_data (e->data, &len);

      if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
          !strata_image_write (image, e->offset, len, data, error))
        return FALSE;
    }
  return TRUE;
}

/* Writes a fresh qcow2 image holding @l into the temporary file @tmp. */
static gboolean
write_qcow2 (StrataFile    *tmp,
             Layer         *l,
             const char    *backing,
             GCancellable  *cancellable,
             GError       **error)
{
  StrataCreateOptions opts;
  g_autoptr(StrataImage) image = NULL;

  strata_create_options_init (&opts);
  opts.size = l->size;
  opts.has_size = TRUE;
  opts.backing_file = backing;
  opts.backing_format = backing != NULL ? "qcow2" : NULL;
  if (!strata_create_qcow2_in_file (tmp, &opts, error))
    return FALSE;

  /* The backing (already under its final name) is opened too: writes smaller than a cluster
   * copy the rest of the cluster from it. */
  image = strata_image_open (strata_file_get_path (tmp), "qcow2",
                             STRATA_OPEN_WRITE | STRATA_OPEN_NO_LOCK, error);
  if (image == NULL ||
      !write_layer (image, l, cancellable, error) ||
      !strata_image_close (image, error))
    return FALSE;
  return TRUE;
}

/* The sample VMDK goes through the engine's VMDK writer (monolithicSparse, 64 KiB grains):
 * the grains the layer touches, in guest order. */
static gboolean
write_sample_vmdk (StrataFile    *tmp,
                   const char    *extent_name,
                   Layer         *l,
                   GCancellable  *cancellable,
                   GError       **error)
{
  const guint64 grain = 128 * SECTOR;
  guint64 n_grains = l->size / grain;
  g_autoptr(GHashTable) grains = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(StrataVmdkWriter) writer = NULL;
  StrataVmdkOptions opts;

  g_assert (l->size % grain == 0);

  /* Gather the grains the layer touches. */
  for (guint i = 0; i < l->extents->len; i++)
    {
      Extent *e = &g_array_index (l->extents, Extent, i);
      gsize len;
      const guint8 *data = g_bytes_get_data (e->data, &len);

      for (guint64 pos = e->offset; pos < e->offset + len;)
        {
          guint64 g = pos / grain, in = pos % grain, n = MIN (grain - in, e->offset + len - pos);
          guint8 *buf = g_hash_table_lookup (grains, GSIZE_TO_POINTER (g + 1));

          if (buf == NULL)
            g_hash_table_insert (grains, GSIZE_TO_POINTER (g + 1), buf = g_malloc0 (grain));
          memcpy (buf + in, data + (pos - e->offset), n);
          pos += n;
        }
    }

  strata_vmdk_options_init (&opts);
  writer = strata_vmdk_writer_new (tmp, extent_name, l->size, &opts, 0, error);
  if (writer == NULL)
    return FALSE;
  for (guint64 g = 0; g < n_grains; g++)
    {
      guint8 *buf = g_hash_table_lookup (grains, GSIZE_TO_POINTER (g + 1));

      if (buf == NULL)
        continue;
      if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
          !strata_vmdk_writer_write (writer, g * grain, buf, grain, error))
        return FALSE;
    }
  return strata_vmdk_writer_finish (writer, error);
}

/* The layers a sample reads through, bottom first. */
static GPtrArray *
build_chain (const char *name)
{
  GPtrArray *chain = g_ptr_array_new_with_free_func ((GDestroyNotify) layer_free);

  if (g_str_equal (name, VMDK_NAME))
    g_ptr_array_add (chain, build_appliance ());
  else
    {
      g_ptr_array_add (chain, build_base ());
      for (guint n = 1; n <= 3; n++)
        if (g_str_equal (name, sample_names[n]))
          g_ptr_array_add (chain, build_overlay (n));
    }
  return chain;
}

const char * const *
strata_samples_get_names (void)
{
  return sample_names;
}

gboolean
strata_samples_write_expected_raw (const char  *name,
                                   const char  *raw_path,
                                   GError     **error)
{
  g_autoptr(GPtrArray) chain = NULL;
  g_autoptr(StrataFile) file = NULL;

  g_return_val_if_fail (name != NULL && g_strv_contains (sample_names, name), FALSE);
  g_return_val_if_fail (raw_path != NULL, FALSE);

  chain = build_chain (name);
  file = strata_file_open (raw_path, STRATA_FILE_WRITE | STRATA_FILE_CREATE, error);
  if (file == NULL ||
      !strata_file_truncate (file, ((Layer *) chain->pdata[0])->size, error))
    return FALSE;
  for (guint i = 0; i < chain->len; i++)
    {
      Layer *l = chain->pdata[i];

      for (guint j = 0; j < l->extents->len; j++)
        {
          Extent *e = &g_array_index (l->extents, Extent, j);
          gsize len;
          const void *data = g_bytes_get_data (e->data, &len);

          if (!strata_file_pwrite (file, data, len, e->offset, error))
            return FALSE;
        }
    }
  return strata_file_flush (file, error);
}

/* Writes one sample into a temporary file next to @path and renames it. */
static gboolean
write_sample (const char    *dir,
              const char    *name,
              GCancellable  *cancellable,
              GError       **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(StrataFile) tmp = NULL;
  g_autoptr(GPtrArray) chain = build_chain (name);
  Layer *top = chain->pdata[chain->len - 1];
  gboolean ok;

  /* A file that appeared since the first look is not replaced either. */
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                   "%s: already exists; sample images are only written where none exist",
                   path);
      return FALSE;
    }

  tmp = strata_file_create_temp (path, error);
  if (tmp == NULL)
    return FALSE;

  if (g_str_equal (name, VMDK_NAME))
    ok = write_sample_vmdk (tmp, name, top, cancellable, error) &&
         strata_file_flush (tmp, error);
  else
    ok = write_qcow2 (tmp, top, chain->len > 1 ? BASE_NAME : NULL, cancellable, error);

  if (!ok || !strata_file_commit_rename (tmp, path, error))
    {
      strata_file_unlink (tmp);
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

gboolean
strata_samples_create (const char    *dir,
                       GCancellable  *cancellable,
                       GError       **error)
{
  guint written = 0;

  g_return_val_if_fail (dir != NULL, FALSE);

  for (guint i = 0; sample_names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, sample_names[i], NULL);
      struct stat st;

      if (lstat (path, &st) == 0)
        {
          g_set_error (error, STRATA_ERROR, STRATA_ERROR_INVALID_ARGUMENT,
                       "%s: already exists; sample images are only written where none exist",
                       path);
          return FALSE;
        }
    }

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      strata_set_error_from_errno (error, errno, dir, "could not create the folder");
      return FALSE;
    }

  /* The base first: the overlays' partial-cluster writes read the rest from it. */
  for (; sample_names[written] != NULL; written++)
    if (!write_sample (dir, sample_names[written], cancellable, error))
      break;

  if (sample_names[written] == NULL)
    return TRUE;

  /* Leave no partial set: remove what this run wrote. */
  for (guint i = 0; i < written; i++)
    {
      g_autofree char *path = g_build_filename (dir, sample_names[i], NULL);

      g_unlink (path);
    }
  return FALSE;
}

static void
samples_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  GError *error = NULL;

  if (strata_samples_create (task_data, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
strata_samples_create_async (const char          *dir,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_return_if_fail (dir != NULL);

  g_task_set_source_tag (task, strata_samples_create_async);
  g_task_set_task_data (task, g_strdup (dir), g_free);
  g_task_run_in_thread (task, samples_thread);
}

gboolean
strata_samples_create_finish (GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
