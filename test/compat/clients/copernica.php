<?php
// The PHP example of Copernica's REST API documentation (POST medialibrary files), kept
// as it is written there; the values come from the environment, and the response
// headers are collected so the compat suite can read X-Created.

// the file to upload (with absolute path)
$file = getenv('COPERNICA_FILE');

// ID of the media library we want to upload the file to
$ID = getenv('COPERNICA_LIBRARY');

// the access token
$token = getenv('COPERNICA_TOKEN');

// the API endpoint for file uploads
$url = getenv('COPERNICA_BASE') . "/v3/medialibrary/{$ID}/files?access_token={$token}";

// open cURL session
$ch = curl_init($url);

// set POST type
curl_setopt($ch, CURLOPT_POST, 1);

// set content-type to multipart/form-data
curl_setopt($ch, CURLOPT_HTTPHEADER, array('Content-Type: multipart/form-data'));

// append the file (the content type the documentation derives from the file, unless the test names one)
$type = getenv('COPERNICA_TYPE') ?: mime_content_type($file);
curl_setopt($ch, CURLOPT_POSTFIELDS, ['file' => new CURLFile($file, $type)]);

// not in the documentation: keep the answer for the test
$headers = [];
curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
curl_setopt($ch, CURLOPT_HEADERFUNCTION, function ($ch, $line) use (&$headers) {
    $parts = explode(':', $line, 2);
    if (count($parts) == 2) $headers[strtolower(trim($parts[0]))] = trim($parts[1]);
    return strlen($line);
});

// execute the request
$body = curl_exec($ch);
echo json_encode(['status' => curl_getinfo($ch, CURLINFO_RESPONSE_CODE), 'headers' => $headers, 'body' => $body, 'error' => curl_error($ch)]);

// close the cURL handle
curl_close($ch);
