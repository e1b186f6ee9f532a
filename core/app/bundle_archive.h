/* A bundle uploaded as a .tar.gz or a .zip (POST /api/v1/bundle): the archive is
 * read in memory, every limit of bundle.h enforced while it is inflated
 * (no file is inflated past what a bundle may hold), and only regular
 * files and directories are taken: a symbolic or hard link, a device, a
 * FIFO, an absolute path or one with a ".." part refuses the archive with
 * its name. Hidden files and folders (a part starting with '.') are left
 * out, as `aantafel tenant deploy` leaves them out. ustar headers, pax extended headers (path, size) and GNU long
 * names are understood. When every file lies under one top folder and
 * there is no tenant.lua at the top, that folder is the bundle ("a
 * .tar.gz of the bundle folder"). */
#ifndef AANTAFEL_BUNDLE_ARCHIVE_H
#define AANTAFEL_BUNDLE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

struct bundle;

/* Returns the bundle (tenant_id and version 0), or NULL with the reason
 * in ERR. */
struct bundle *bundle_from_targz(const void *data, size_t len, char *err, size_t errlen);

/* The same for a .zip (read with libzip, CRC-32s checked): the central
 * directory's sizes are checked against the limits before an entry is
 * inflated, and an entry is never inflated past what it declares. A Unix
 * mode of a link or a special file, an encrypted entry, a method other
 * than deflate or none, a file compressed more than 200 to 1 (above
 * 64 KiB) or entries that share compressed bytes refuse the archive. */
struct bundle *bundle_from_zip(const void *data, size_t len, char *err, size_t errlen);

/* A .tar.gz or a .zip, told apart by their first bytes (not by a name). */
struct bundle *bundle_from_archive(const void *data, size_t len, char *err, size_t errlen);

#endif
